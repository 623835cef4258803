"""The C2PA signing algorithms provenance signs with (a module of its own: the CLI lists them without
importing `cryptography`)."""

ALGORITHMS = ("es256", "es384", "es512", "ps256", "ps384", "ps512", "ed25519")
