"""Trust: which certificates are anchors (`anchors`), our own trust rules on top of c2pa's verdict
(`policy`), RFC 3161 timestamps (`timestamp`) and `trust show` (`show`).

Importing this package is cheap: `cryptography` loads with the module that needs it.
"""
