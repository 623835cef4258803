"""How a locked key or token asks for its secret (a passphrase, a PIN) without knowing where it comes from."""

from __future__ import annotations

from collections.abc import Callable

# Given what is locked (e.g. "key file signer.key", "PIN for PKCS#11 token 'hsm'"), returns the secret,
# or None when none can be had.
SecretProvider = Callable[[str], bytes | None]
