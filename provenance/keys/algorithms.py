"""The C2PA signing algorithms provenance signs with (a module of its own: the CLI lists them without
importing `cryptography`)."""

ALGORITHMS = ("es256", "es384", "es512", "ps256", "ps384", "ps512", "ed25519")

# The hash each algorithm signs with, by the number in its name (es384, ps384: SHA384). Names, not
# objects: cryptography and PKCS#11 each spell them so.
_HASH_NAMES = {"256": "SHA256", "384": "SHA384", "512": "SHA512"}


def hash_name(alg: str) -> str:
    """The name of the hash a C2PA algorithm signs with (es384 -> SHA384); KeyError for ed25519, which has none."""
    return _HASH_NAMES[alg[2:]]
