"""Signing keys: credentials from PEM/PKCS#12 files, a signer command or a PKCS#11 token; the dev PKI; algorithms.

Importing this package is cheap: `cryptography` loads with the module that needs it.
"""
