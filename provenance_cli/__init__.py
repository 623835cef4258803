"""The click layer of provenance (installed as `provenance_cli`)."""
