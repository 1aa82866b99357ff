"""The quality verdict of a calibration against configured limits.

A calibration is ``good`` when it used enough stars and its scatter, outlier
fraction and zero-point error are within ``[zeropoint.quality]``; otherwise it
is ``poor`` with the reasons, so a poor calibration is flagged in the table
meta, run.json and the log, never silently accepted.
"""

import logging

log = logging.getLogger(__name__)


def verdict(n_used, scatter_mag, outlier_fraction, zp_error_mag, limits):
    """("good" | "poor", [reasons]) for the figures of a fit and ``[zeropoint.quality]``."""
    reasons = []
    if n_used < limits["min_stars"]:
        reasons.append(f"{n_used} stars used, fewer than {limits['min_stars']}")
    if scatter_mag > limits["max_scatter_mag"]:
        reasons.append(f"scatter {scatter_mag:.3f} mag above {limits['max_scatter_mag']:g}")
    if outlier_fraction > limits["max_outlier_fraction"]:
        reasons.append(f"outlier fraction {outlier_fraction:.2f} above "
                       f"{limits['max_outlier_fraction']:g}")
    if zp_error_mag > limits["max_zp_error_mag"]:
        reasons.append(f"zero-point error {zp_error_mag:.3f} mag above "
                       f"{limits['max_zp_error_mag']:g}")
    return ("poor" if reasons else "good"), reasons
