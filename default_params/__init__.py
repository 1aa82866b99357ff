"""Shipped parameter files per tool and the built-in ``ccdphot.toml`` defaults."""
