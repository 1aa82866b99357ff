"""Calibration frames: building master bias/dark/flat and applying them."""
