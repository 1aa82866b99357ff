"""The frame's 5-sigma limiting magnitude from its own error-magnitude relation.

A star measured at signal-to-noise 5 has a magnitude error of 2.5/ln(10)/5 =
0.217 mag. The limit is where the frame's calibrated stars reach that error:
log10(error) rises close to linearly with magnitude for the faint, sky-limited
stars, so a line fitted to the binned median log10(error) of the stars with
errors between 0.02 and 0.5 mag is solved for 0.217 mag. When the faintest
bins stop short of that error, the line is extrapolated and the method says so.
"""

import logging

import numpy as np

log = logging.getLogger(__name__)

SNR = 5.0
ERROR_AT_LIMIT = 2.5 / np.log(10.0) / SNR
_FIT_RANGE = (0.02, 0.5)
_MIN_PER_BIN = 3


def limiting_magnitude(magnitude, error):
    """(limit in mag, how it was found) or (None, why not) from arrays of mag and error."""
    magnitude = np.asarray(magnitude, float)
    error = np.asarray(error, float)
    use = np.isfinite(magnitude) & np.isfinite(error) & (error >= _FIT_RANGE[0]) \
        & (error <= _FIT_RANGE[1])
    if use.sum() < 2 * _MIN_PER_BIN:
        return None, f"only {int(use.sum())} stars with errors of 0.02-0.5 mag"
    mags, log_err = magnitude[use], np.log10(error[use])
    edges = np.arange(np.floor(mags.min() * 4) / 4, mags.max() + 0.25, 0.25)
    centres, medians = [], []
    for low, high in zip(edges[:-1], edges[1:]):
        inside = (mags >= low) & (mags < high)
        if inside.sum() >= _MIN_PER_BIN:
            centres.append(np.median(mags[inside]))
            medians.append(np.median(log_err[inside]))
    if len(centres) < 2:
        return None, "too few magnitude bins to fit the error-magnitude relation"
    slope, intercept = np.polyfit(centres, medians, 1)
    if slope <= 0:
        return None, "the errors do not grow with magnitude"
    limit = (np.log10(ERROR_AT_LIMIT) - intercept) / slope
    reached = np.max(medians) >= np.log10(ERROR_AT_LIMIT)
    how = (f"log10(error) vs magnitude, {len(centres)} bins of 0.25 mag, "
           + ("interpolated" if reached else "extrapolated beyond the faintest bin"))
    return float(limit), how
