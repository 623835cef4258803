"""Test helpers as plain modules, never imported from a conftest: clips, the CLI as a process, a test PKI,
a test TSA, a throwaway PostgreSQL."""
