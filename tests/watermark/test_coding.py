import os

import numpy as np

from provenance.watermark import coding


def test_noisy_codeword_decodes_to_its_identifier() -> None:
    rng = np.random.default_rng(7)
    for _ in range(20):
        identifier = os.urandom(8)
        soft = 1 - 2.0 * coding.encode(identifier) + rng.normal(0, 0.8, coding.CODED_BITS)
        assert coding.decode(soft) == (identifier, True)


def test_noise_never_passes_the_check_value() -> None:
    rng = np.random.default_rng(8)
    assert not any(coding.decode(rng.normal(0, 1, coding.CODED_BITS))[1] for _ in range(300))
    assert not coding.decode(np.zeros(coding.CODED_BITS))[1]
