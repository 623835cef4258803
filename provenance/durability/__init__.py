"""Durability: credentials that survive stripping (soft binding, manifest repository, recovery, resolver
client and the resolution server)."""
