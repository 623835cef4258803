"""provenance: sign AI-generated video with C2PA Content Credentials and verify them.

Heavy modules (c2pa, cryptography) are imported by the submodules that need them,
so importing this package stays cheap.
"""

__version__ = "0.1.0"
