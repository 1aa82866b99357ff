"""Comparison stars: choice, Broeg weights, rejection of variables, optimisation, check star.

The ensemble's zero point of a frame is the weighted mean of the comparison
stars' offsets from their own median magnitude, so a star missing from a frame
only changes the weights there. Weights follow Broeg, Fernandez & Neuhaeuser
(2005, AN 326, 134): each star's weight is 1/sigma^2 of its light curve
against the ensemble of the others, iterated until the weights settle, so the
steadiest stars count most. A star whose scatter is well above the others'
(relative to what its errors predict) is a variable and is dropped, one at a
time. Optionally the set is then trimmed or extended (greedy, or every subset
of a small set) to minimise the target's scatter, the way AstroImageJ users and
EXOTIC choose comparisons. Written here because no maintained package does
ensemble differential photometry on arrays with gaps.
"""

import itertools
import logging
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import cKDTree

from ccdphot.errors import InputError

log = logging.getLogger(__name__)

SATURATED, TRUNCATED = 4, 8  # SExtractor FLAGS bits


@dataclass(frozen=True)
class EnsembleOptions:
    """How comparison stars are chosen and weighted."""

    min_presence: float = 0.9      # fraction of frames a comparison must be measured in
    brighter_mag: float = 2.0      # candidates up to this much brighter than the target
    fainter_mag: float = 1.0       # ... and this much fainter
    isolation_fwhm: float = 3.0    # no star within this many FWHM adding > 10 % flux
    max_candidates: int = 10
    min_comparisons: int = 2
    reject_factor: float = 2.5     # scatter/expected this many times the others' median: variable
    optimise: str = "none"         # "none", "greedy" or "exhaustive" (<= 12 candidates)
    max_iterations: int = 50


@dataclass
class Ensemble:
    """The comparison set (column indices), weights and the per-frame zero point."""

    columns: np.ndarray
    weights: np.ndarray
    scatter: np.ndarray          # each comparison's RMS against the others (mag)
    zero_point: np.ndarray       # per frame (mag), relative to the stars' medians
    zero_point_err: np.ndarray
    level: float                 # weighted mean of the comparisons' median magnitudes
    roles: dict = field(default_factory=dict)  # column -> (role, reason)
    check: int = -1

    @property
    def magnitude(self):
        """The ensemble's magnitude in each frame (level + zero point)."""
        return self.level + self.zero_point


def offsets(mag, columns):
    """Each star's magnitudes minus its median (frames x comparisons)."""
    values = mag[:, columns]
    with np.errstate(invalid="ignore"):
        return values - np.nanmedian(values, axis=0)


def zero_point(mag, err, columns, weights):
    """(zero point, its error) per frame: weighted mean offset of the comparisons present."""
    off = offsets(mag, columns)
    present = np.isfinite(off)
    w = np.where(present, weights, 0.0)
    total = w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        zp = (np.where(present, off, 0.0) * w).sum(axis=1) / total
        variance = (np.square(w) * np.square(np.where(present, err[:, columns], 0.0))).sum(axis=1)
        zp_err = np.sqrt(variance) / total
    zp[total <= 0] = np.nan
    zp_err[total <= 0] = np.nan
    return zp, zp_err


def leave_one_out(mag, columns, weights):
    """Each comparison's light curve against the weighted ensemble of the others."""
    off = offsets(mag, columns)
    present = np.isfinite(off)
    w = np.where(present, weights, 0.0)
    weighted = np.where(present, off, 0.0) * w
    others_w = w.sum(axis=1, keepdims=True) - w
    with np.errstate(invalid="ignore", divide="ignore"):
        others = (weighted.sum(axis=1, keepdims=True) - weighted) / others_w
    return np.where(present & (others_w > 0), off - others, np.nan)


def broeg_weights(mag, err, columns, max_iterations=50, tolerance=1e-6):
    """Weights (sum 1) and each star's scatter against the others, iterated to convergence."""
    columns = np.asarray(columns)
    with np.errstate(invalid="ignore"):
        expected = np.nanmedian(err[:, columns], axis=0)
    weights = 1.0 / np.square(np.where(np.isfinite(expected) & (expected > 0), expected, 1.0))
    weights /= weights.sum()
    scatter = np.full(len(columns), np.nan)
    if len(columns) < 2:
        return np.ones(len(columns)), scatter
    for _ in range(max_iterations):
        scatter = np.nanstd(leave_one_out(mag, columns, weights), axis=0, ddof=1)
        safe = np.where(np.isfinite(scatter) & (scatter > 0), scatter, np.nanmax(scatter))
        new = 1.0 / np.square(safe)
        new /= new.sum()
        converged = np.max(np.abs(new - weights)) < tolerance
        weights = new
        if converged:
            break
    return weights, scatter


def _excess(mag, err, columns, scatter):
    """Scatter over the scatter each star's own errors predict."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return scatter / np.nanmedian(err[:, columns], axis=0)


def reject_variables(mag, err, columns, options, roles):
    """Drop the comparison with the largest excess scatter while it stands out."""
    columns = list(columns)
    while len(columns) > max(options.min_comparisons, 2):
        weights, scatter = broeg_weights(mag, err, columns, options.max_iterations)
        excess = _excess(mag, err, columns, scatter)
        worst = int(np.nanargmax(excess))
        others = np.delete(excess, worst)
        limit = options.reject_factor * np.nanmedian(others)
        if not excess[worst] > limit:
            break
        roles[columns[worst]] = ("variable", f"scatter {scatter[worst]:.4f} mag is "
                                 f"{excess[worst] / np.nanmedian(others):.1f}x the others' "
                                 "(relative to their errors)")
        log.info("comparison star %d rejected as variable (%s)", columns[worst],
                 roles[columns[worst]][1])
        del columns[worst]
    return columns


def robust_scatter(values, mask=None):
    """RMS of ``values`` from point-to-point differences (insensitive to slow changes)."""
    values = np.asarray(values, dtype=float)
    if mask is not None:
        values = values[mask]
    values = values[np.isfinite(values)]
    if len(values) < 3:
        return np.inf
    return float(1.4826 * np.median(np.abs(np.diff(values))) / np.sqrt(2.0))


def target_scatter(mag, err, target, columns, options, oot=None):
    """Scatter of the target against the Broeg-weighted ensemble of ``columns``."""
    weights, _ = broeg_weights(mag, err, columns, options.max_iterations)
    zp, _ = zero_point(mag, err, columns, weights)
    dmag = mag[:, target] - zp
    if oot is not None:
        values = dmag[oot & np.isfinite(dmag)]
        return float(np.std(values, ddof=1)) if len(values) > 2 else np.inf
    return robust_scatter(dmag)


def optimise(mag, err, target, columns, options, oot=None):
    """The subset of ``columns`` giving the target the smallest scatter."""
    def cost(subset):
        return target_scatter(mag, err, target, list(subset), options, oot)

    minimum = options.min_comparisons
    if options.optimise == "exhaustive":
        if len(columns) > 12:
            raise InputError(f"exhaustive comparison search over {len(columns)} stars is too "
                             "large (at most 12); use greedy")
        subsets = (s for k in range(minimum, len(columns) + 1)
                   for s in itertools.combinations(columns, k))
        return list(min(subsets, key=cost))
    chosen, best = list(columns), cost(columns)
    improved = True
    while improved:
        improved = False
        moves = [[c for c in chosen if c != drop] for drop in chosen if len(chosen) > minimum]
        moves += [chosen + [add] for add in columns if add not in chosen]
        for move in moves:
            value = cost(move)
            if value < best * 0.999:
                chosen, best, improved = move, value, True
        chosen.sort(key=list(columns).index)
    return chosen


def candidates(series, mag, target, options):
    """Columns usable as comparison stars for ``target``, best first, and why others are not."""
    n_frames = mag.shape[0]
    flags = series.values["FLAGS"]
    measured = np.isfinite(mag)
    presence = measured.sum(axis=0) / max(n_frames, 1)
    with np.errstate(invalid="ignore"):
        median = np.nanmedian(np.where(measured, mag, np.nan), axis=0)
    saturated = ((flags & SATURATED) > 0).any(axis=0)
    truncated = ((flags & TRUNCATED) > 0).sum(axis=0) > 0.1 * n_frames
    target_mag = median[target]
    in_range = (median >= target_mag - options.brighter_mag) & (median <= target_mag + options.fainter_mag)
    ok = (presence >= options.min_presence) & ~saturated & ~truncated & in_range
    ok &= isolated(series, options.isolation_fwhm)
    ok[target] = False
    near_target = _separation_pix(series, target) < options.isolation_fwhm * _seeing(series)
    ok &= ~near_target
    order = np.flatnonzero(ok)
    order = order[np.argsort(median[order], kind="stable")]  # brightest (least noisy) first
    summary = (f"{int((presence >= options.min_presence).sum())} stars measured in "
               f">= {options.min_presence:.0%} of the frames, {int(in_range.sum())} within "
               f"-{options.brighter_mag}/+{options.fainter_mag} mag of the target, "
               f"{int(saturated.sum())} saturated in some frame")
    return order[:options.max_candidates], summary


def _seeing(series):
    seeing = np.asarray(series.frames["SEEING_FWHM_PIX"], dtype=float)
    value = np.nanmedian(seeing) if np.isfinite(seeing).any() else np.nan
    if not np.isfinite(value):
        value = np.nanmedian(np.asarray(series.stars["FWHM_REF"], dtype=float))
    return float(value) if np.isfinite(value) else 3.0


def _separation_pix(series, column):
    x = np.asarray(series.stars["X_REF"], dtype=float)
    y = np.asarray(series.stars["Y_REF"], dtype=float)
    return np.hypot(x - x[column], y - y[column])


def isolated(series, isolation_fwhm):
    """True for stars with no neighbour within the radius bright enough to add > 10 % flux."""
    x = np.asarray(series.stars["X_REF"], dtype=float)
    y = np.asarray(series.stars["Y_REF"], dtype=float)
    reference_mag = np.asarray(series.stars["MAG_REF"], dtype=float)
    good = np.isfinite(x) & np.isfinite(y)
    result = np.zeros(len(x), dtype=bool)
    rows = np.flatnonzero(good)
    tree = cKDTree(np.column_stack([x[rows], y[rows]]))
    radius = isolation_fwhm * _seeing(series)
    for i, neighbours in zip(rows, tree.query_ball_point(np.column_stack([x[rows], y[rows]]),
                                                          r=radius)):
        others = rows[[n for n in neighbours if rows[n] != i]]
        result[i] = not np.any(reference_mag[others] < reference_mag[i] + 2.5)
    return result


def _nearest_in_brightness(mag, pool, target):
    """The star of ``pool`` closest to the target's median magnitude."""
    with np.errstate(invalid="ignore"):
        median = np.nanmedian(mag[:, list(pool) + [target]], axis=0)
    return int(pool[int(np.argmin(np.abs(median[:-1] - median[-1])))])


def build_ensemble(series, mag, err, target, options=EnsembleOptions(), comparisons=None,
                   check=None, oot=None):
    """Choose (or take) the comparison stars, weight them, reject variables, pick a check star.

    ``comparisons``/``check`` are column indices given by the user (None: automatic).
    ``oot`` is an optional boolean mask of frames to judge the target's scatter on
    (out of transit) when optimising; otherwise its point-to-point scatter is used.
    Raises :class:`InputError` when fewer than ``options.min_comparisons`` remain.
    """
    roles = {}
    if comparisons is None:
        pool, summary = candidates(series, mag, target, options)
        if len(pool) < options.min_comparisons:
            raise InputError(
                f"only {len(pool)} comparison star candidates for the target in reference "
                f"frame {series.reference} (need {options.min_comparisons}; {summary}); "
                "give --comparisons, or widen the brightness window")
        if check is None and len(pool) > options.min_comparisons:
            check = _nearest_in_brightness(mag, pool, target)
        pool = [c for c in pool if c != check]
        columns = reject_variables(mag, err, list(pool), options, roles)
        if options.optimise != "none":
            kept = optimise(mag, err, target, columns, options, oot)
            for column in columns:
                if column not in kept:
                    roles[column] = ("unused", f"left out by the {options.optimise} search "
                                     "for the smallest target scatter")
            columns = kept
    else:
        pool, columns = list(comparisons), list(comparisons)
        if len(columns) < 1:
            raise InputError("no comparison star given")
    weights, scatter = broeg_weights(mag, err, columns, options.max_iterations)
    zp, zp_err = zero_point(mag, err, columns, weights)
    with np.errstate(invalid="ignore"):
        level = float(np.sum(weights * np.nanmedian(mag[:, columns], axis=0)))
    for column in columns:
        roles[column] = ("comparison", "")
    if check is None:
        check = -1
        log.warning("no check star: too few comparison candidates to spare one")
    else:
        roles[check] = ("check", "")
    return Ensemble(np.asarray(columns), weights, scatter, zp, zp_err, level, roles, check)
