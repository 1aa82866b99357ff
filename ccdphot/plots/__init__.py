"""Figures of ccdphot: per-frame QC, PSF-star mosaics, colour-magnitude diagrams."""
