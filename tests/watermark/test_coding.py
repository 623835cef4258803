import os

import numpy as np
import pytest

from provenance.watermark import coding


def test_noisy_codeword_decodes_to_its_identifier() -> None:
    rng = np.random.default_rng(7)
    for _ in range(20):
        identifier = os.urandom(8)
        soft = 1 - 2.0 * coding.encode(identifier) + rng.normal(0, 0.8, coding.CODED_BITS)
        assert coding.decode(soft) == (identifier, True)


def test_the_list_recovers_codewords_whose_best_path_fails_the_check() -> None:
    rng = np.random.default_rng(9)
    best_path = listed = 0
    for _ in range(20):
        identifier = rng.integers(0, 256, 8, dtype=np.uint8).tobytes()
        soft = 1 - 2.0 * coding.encode(identifier) + rng.normal(0, 1.6, coding.CODED_BITS)
        for list_size in (1, coding.LIST_SIZE):
            decoded, valid = coding.decode(soft, list_size)
            assert not valid or decoded == identifier  # a candidate that passes the check is the payload
            if valid:
                best_path += list_size == 1
                listed += list_size > 1
    assert listed >= best_path + 3, (best_path, listed)


@pytest.mark.slow
def test_noise_never_passes_the_check_value() -> None:
    rng = np.random.default_rng(8)
    assert not any(coding.decode(rng.normal(0, 1, coding.CODED_BITS))[1] for _ in range(100))
    assert not coding.decode(np.zeros(coding.CODED_BITS))[1]


def test_a_list_size_outside_what_choices_can_index_is_refused() -> None:
    with pytest.raises(ValueError):
        coding.decode(np.zeros(coding.CODED_BITS), 64)
