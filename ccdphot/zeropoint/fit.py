"""The zero-point fit: ``catalogue - instrumental = ZP + k * colour`` with honest errors.

Each star j has a measured variance ``s_j^2`` (instrumental, catalogue and
``k * colour`` errors in quadrature); what the stars scatter beyond that —
flat-field structure, colour-term curvature, variable or blended stars that
survive the clipping — is an intrinsic scatter ``sigma_int`` fitted with the
zero point, so that every star is weighted by ``1 / (s_j^2 + sigma_int^2)``
and no handful of stars with tiny catalogue errors dominates. ``sigma_int``
is the Paule & Mandel (1982) estimate: the value that makes the weighted
chi-square equal its degrees of freedom (zero when the measured errors
already explain the scatter). The parameter covariance is that of weighted
least squares with those weights. Outliers are rejected robustly: a first cut
at 5 robust sigma about the median, then stars whose residual exceeds
``clip_sigma`` times their total sigma, first with a robust (median-based)
scatter so that the outliers cannot widen their own acceptance, then, once
that set is stable, with the fitted scatter (which lets back stars the noisy
robust estimate cut), refitting until the set is stable.

scipy and astropy offer weighted least squares but no fit of an additive
scatter term with clipping, hence this small module.
"""

import logging
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq
from scipy.stats import norm

log = logging.getLogger(__name__)

MAD_TO_SIGMA = 1.4826
_FIRST_CUT_SIGMA = 5.0


@dataclass
class ZeroPointFit:
    """The result of :func:`fit_zero_point` (magnitudes; ``kept`` is the used-star mask)."""

    zp: float
    zp_error: float
    colour_term: float
    colour_term_error: float
    covariance: np.ndarray
    intrinsic_scatter: float
    kept: np.ndarray
    residual: np.ndarray
    total_sigma: np.ndarray
    colour_term_fixed: bool

    @property
    def n_used(self):
        return int(self.kept.sum())

    @property
    def n_rejected(self):
        return int((~self.kept).sum())

    @property
    def scatter(self):
        """Robust standard deviation (MAD) of the used stars' residuals."""
        used = self.residual[self.kept]
        return float(MAD_TO_SIGMA * np.median(np.abs(used - np.median(used))))

    def offset(self, colour):
        """ZP + k * colour for colours (an array; NaN where unknown)."""
        return self.zp + self.colour_term * np.asarray(colour, float)

    def offset_variance(self, colour):
        """Variance of ``offset(colour)`` from the parameter covariance."""
        colour = np.asarray(colour, float)
        if self.covariance.shape == (1, 1):
            return np.full(colour.shape, self.covariance[0, 0])
        c = self.covariance
        return c[0, 0] + 2.0 * colour * c[0, 1] + colour ** 2 * c[1, 1]


def fit_zero_point(delta, error, colour=None, colour_error=None, colour_term=None,
                   clip_sigma=3.0, iterations=10):
    """Fit ``delta = zp + k * colour`` (``k`` fixed when ``colour_term`` is given).

    ``delta``, ``error`` (measured sigma of delta), ``colour`` and ``colour_error``
    are arrays over the same stars (finite values). Without ``colour`` only the
    zero point is fitted. Returns a :class:`ZeroPointFit`.
    """
    delta = np.asarray(delta, float)
    error = np.asarray(error, float)
    n = len(delta)
    has_colour = colour is not None
    colour = np.asarray(colour, float) if has_colour else np.zeros(n)
    colour_error = np.asarray(colour_error, float) if colour_error is not None else np.zeros(n)
    fixed = colour_term is not None or not has_colour
    k_fixed = float(colour_term) if colour_term is not None else 0.0
    target = delta - k_fixed * colour if fixed else delta
    design = np.ones((n, 1)) if fixed else np.column_stack([np.ones(n), colour])
    kept = _first_cut(target)
    k = k_fixed
    kept_fraction = _truncated_variance(clip_sigma)
    robust_phase = True
    for _ in range(2 * iterations + 2):
        variance = error ** 2 + (k * colour_error) ** 2
        coef, cov, scatter2 = _scatter_fit(design[kept], target[kept], variance[kept],
                                           kept_fraction)
        k = k_fixed if fixed else coef[1]
        residual = target - design @ coef
        variance = error ** 2 + (k * colour_error) ** 2
        total = np.sqrt(variance + scatter2)
        # First clip against a robust scatter (blends and variables inflate the fitted
        # one), then, once the set is clean, against the fitted scatter itself.
        scale = np.sqrt(variance + _robust_scatter2(residual[kept], variance[kept])) \
            if robust_phase else total
        new_kept = np.abs(residual) <= clip_sigma * scale
        if new_kept.sum() < design.shape[1] + 1:
            break
        if np.array_equal(new_kept, kept):
            if not robust_phase:
                break
            robust_phase = False
        kept = new_kept
    if fixed:
        cov = np.array([[cov[0, 0], 0.0], [0.0, 0.0]]) if has_colour else cov
        coef = np.array([coef[0], k_fixed])
    return ZeroPointFit(zp=float(coef[0]), zp_error=float(np.sqrt(cov[0, 0])),
                        colour_term=float(coef[1]) if has_colour else 0.0,
                        colour_term_error=float(np.sqrt(cov[1, 1])) if has_colour else 0.0,
                        covariance=cov, intrinsic_scatter=float(np.sqrt(scatter2)),
                        kept=kept, residual=residual, total_sigma=total,
                        colour_term_fixed=fixed and has_colour)


def _robust_scatter2(residual, variance):
    """Robust intrinsic scatter^2: the median normalised residual |r| / sqrt(s_j^2 + x)
    equals that of a unit normal (0.6745). Outliers move a median little."""
    centred = np.abs(residual - np.median(residual))
    half = norm.ppf(0.75)

    def excess(scatter2):
        return float(np.median(centred / np.sqrt(variance + scatter2))) - half

    if excess(0.0) <= 0:
        return 0.0
    high = float(np.max(centred)) ** 2 + 1e-6
    return brentq(excess, 0.0, high, xtol=1e-10)


def _first_cut(values):
    """Stars within 5 robust sigma of the median: protects the first fit from outliers."""
    centre = np.median(values)
    spread = MAD_TO_SIGMA * np.median(np.abs(values - centre))
    if spread <= 0:
        return np.ones(len(values), bool)
    return np.abs(values - centre) <= _FIRST_CUT_SIGMA * spread


def _wls(design, values, variance):
    weights = 1.0 / variance
    normal = design.T @ (design * weights[:, None])
    cov = np.linalg.inv(normal)
    coef = cov @ (design.T @ (values * weights))
    return coef, cov


def _truncated_variance(clip_sigma):
    """Variance of a unit normal cut at +-clip_sigma (0.973 at 3 sigma).

    Residuals that survived clipping scatter less than the population they
    came from; the chi-square target is lowered by this factor so that the
    fitted scatter, and with it the zero-point error, is not shrunk by the clip.
    """
    c = float(clip_sigma)
    inside = 2.0 * norm.cdf(c) - 1.0
    return 1.0 - 2.0 * c * norm.pdf(c) / inside


def _scatter_fit(design, values, variance, kept_fraction=1.0):
    """Weighted fit with the Paule-Mandel intrinsic scatter: (coef, cov, sigma_int^2).

    The scatter makes the weighted chi-square equal ``kept_fraction`` times its
    degrees of freedom (see :func:`_truncated_variance`).
    """
    dof = (len(values) - design.shape[1]) * kept_fraction

    def excess(scatter2):
        coef, _ = _wls(design, values, variance + scatter2)
        residual = values - design @ coef
        return float(np.sum(residual ** 2 / (variance + scatter2))) - dof

    scatter2 = 0.0
    if len(values) > design.shape[1] and excess(0.0) > 0:
        high = float(np.var(values)) + float(np.max(variance)) + 1e-6
        while excess(high) > 0:
            high *= 4.0
        scatter2 = brentq(excess, 0.0, high, xtol=1e-10)
    coef, cov = _wls(design, values, variance + scatter2)
    return coef, cov, scatter2
