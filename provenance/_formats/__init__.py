"""Readers of the container formats: BMFF boxes, JUMBF manifest stores (private)."""
