"""Astrometry: star-pattern matching and WCS fitting (the tools are in ccdphot.wrappers)."""
