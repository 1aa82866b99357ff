"""A trapezoid transit fitted jointly with a linear systematics model.

The trapezoid (total duration T14, ingress/egress time tau, flat bottom of
fractional depth delta) is the simplest shape that gives a mid-time and a depth
from ground-based data; limb darkening and a physical model (e.g. batman) are
beyond what one night of a small telescope constrains. The systematics
(airmass, seeing, ..., chosen by :mod:`ccdphot.series.detrend`) enter
linearly, so for each trial of the four transit parameters they are solved by
least squares (variable projection) and scipy's ``least_squares`` fits the
four. Uncertainties come from the Jacobian, scaled by the residual scatter.
"""

import logging
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

log = logging.getLogger(__name__)

PARAMETERS = ("T0", "DEPTH", "T14", "INGRESS_FRACTION")


@dataclass(frozen=True)
class TransitGuess:
    """Optional starting values: mid-time (same scale as the times), duration in days."""

    t0: float = None
    duration_days: float = None


@dataclass
class TransitFit:
    """Fitted transit parameters (times in the scale of the input), errors and the model."""

    t0: float
    t0_err: float
    depth: float            # fractional flux at the flat bottom
    depth_err: float
    duration: float         # T14, days
    duration_err: float
    ingress_fraction: float  # tau / T14
    model_mag: np.ndarray    # transit signal in magnitudes (0 out of transit)
    coefficients: np.ndarray
    rss: float

    def in_transit(self, time):
        return np.abs(np.asarray(time) - self.t0) < self.duration / 2.0

    def record(self):
        return {"T0": self.t0, "T0_ERR": self.t0_err, "DEPTH": self.depth,
                "DEPTH_ERR": self.depth_err, "T14_DAYS": self.duration,
                "T14_ERR_DAYS": self.duration_err, "INGRESS_FRACTION": self.ingress_fraction,
                "RP_RS": float(np.sqrt(max(self.depth, 0.0)))}


def trapezoid_flux_loss(time, t0, depth, duration, ingress_fraction):
    """Fractional flux lost: 0 outside, ``depth`` on the flat bottom, linear in between."""
    half = duration / 2.0
    ingress = max(ingress_fraction * duration, 1e-9)
    shape = np.clip((half - np.abs(np.asarray(time) - t0)) / ingress, 0.0, 1.0)
    return depth * shape


def transit_mag(time, t0, depth, duration, ingress_fraction):
    """The transit in magnitudes (positive: fainter)."""
    loss = trapezoid_flux_loss(time, t0, depth, duration, ingress_fraction)
    return -2.5 * np.log10(1.0 - np.minimum(loss, 0.999))


def _linear(design, y, weight):
    coefficients, *_ = np.linalg.lstsq(design * weight[:, None], y * weight, rcond=None)
    return coefficients


def box_search(time, y, design, weight, durations):
    """Best (t0, duration, depth) of a box-shaped dip on a grid (the fit's starting point)."""
    span = time.max() - time.min()
    step = max(np.median(np.diff(np.sort(time))) / 2.0, span / 2000.0)
    best = (np.inf, None)
    for duration in durations:
        for t0 in np.arange(time.min(), time.max() + step, step):
            box = (np.abs(time - t0) < duration / 2.0).astype(float)
            if box.sum() < 2 or box.sum() > len(time) - 2:
                continue
            full = np.column_stack([design, box])
            coefficients = _linear(full, y, weight)
            rss = float(np.sum(np.square((y - full @ coefficients) * weight)))
            if coefficients[-1] > 0 and rss < best[0]:
                best = (rss, (t0, duration, coefficients[-1]))
    return best[1]


def _weights(err):
    weight = 1.0 / np.where(np.isfinite(err) & (err > 0), err, np.nanmedian(err))
    return weight / np.median(weight)


def starting_point(time, y, err, guess=TransitGuess()):
    """(t0, duration, depth in mag) to start the fit from: the guess, else a box search."""
    time = np.asarray(time, float)
    if guess.t0 is not None and guess.duration_days is not None:
        return (guess.t0, guess.duration_days, 0.01)
    span = float(time.max() - time.min())
    durations = ([guess.duration_days] if guess.duration_days else
                 [d for d in np.array([1.0, 1.5, 2.0, 3.0, 4.0, 6.0]) / 24.0 if d < 0.8 * span])
    start = box_search(time, np.asarray(y, float), np.ones((len(time), 1)), _weights(err),
                       durations)
    if start is not None and guess.t0 is not None:
        start = (guess.t0, start[1], start[2])
    return start


def fit_transit(time, y, err, design, start):
    """Fit a trapezoid transit plus ``design @ coefficients`` to magnitudes ``y``.

    ``design`` holds the systematics columns (the first a constant); ``start``
    is (t0, duration, depth in mag) from :func:`starting_point`. Returns a
    :class:`TransitFit`.
    """
    time = np.asarray(time, float)
    y = np.asarray(y, float)
    weight = _weights(err)
    span = float(time.max() - time.min())
    depth0 = min(max(1.0 - 10 ** (-0.4 * start[2]), 1e-4), 0.4)

    def residual(p):
        signal = transit_mag(time, *p)
        coefficients = _linear(design, y - signal, weight)
        return (y - signal - design @ coefficients) * weight

    lower = [time.min(), 0.0, 2.0 * np.median(np.diff(np.sort(time))), 0.01]
    upper = [time.max(), 0.5, span, 0.5]
    p0 = np.clip([start[0], depth0, start[1], 0.15], lower, upper)
    solution = least_squares(residual, p0, bounds=(lower, upper), x_scale="jac")
    p = solution.x
    signal = transit_mag(time, *p)
    coefficients = _linear(design, y - signal, weight)
    rss = float(np.sum(np.square(solution.fun)))
    dof = max(len(y) - len(p) - design.shape[1], 1)
    try:
        covariance = np.linalg.inv(solution.jac.T @ solution.jac) * rss / dof
        errors = np.sqrt(np.clip(np.diag(covariance), 0, None))
    except np.linalg.LinAlgError:
        errors = np.full(len(p), np.nan)
    return TransitFit(float(p[0]), float(errors[0]), float(p[1]), float(errors[1]), float(p[2]),
                      float(errors[2]), float(p[3]), signal, coefficients, rss)
