"""Standard photometry: matching to a reference catalogue, zero point and colour terms."""
