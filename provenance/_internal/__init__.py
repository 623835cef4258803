"""Plumbing (private): atomic outputs, child processes, worker threads."""
