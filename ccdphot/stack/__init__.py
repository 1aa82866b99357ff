"""Stacking, PSF-star lists and colour-magnitude diagrams (frames of one field)."""
