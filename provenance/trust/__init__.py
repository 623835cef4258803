"""Trust: which certificates are anchors, how a report is judged against them, timestamps, `trust show`.

Importing this package is cheap: `cryptography` loads with the module that needs it.
"""
