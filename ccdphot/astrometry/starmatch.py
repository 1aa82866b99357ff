"""Match a detection list to a reference star list without knowing the rotation.

Used by the astrometry step for the initial solution: the header gives the
pointing (possibly off by several arcminutes, or by a fraction of the field)
and a pixel scale, nothing about the orientation or parity. Both lists are put
in pixel units on a common tangent plane; triangles of neighbouring stars are
compared by their shape (side ratios) and size (the scale is known to a few
per cent), each pair of similar triangles proposes a similarity transform
(rotation, scale, shift, parity), and the proposal that brings most stars onto
a reference star wins. All functions are pure (numpy/scipy only).
"""

import itertools
import logging
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Similarity:
    """``ref = scale * R(angle) * P * xy + shift``; P flips y when ``flipped``."""

    scale: float
    angle_deg: float
    flipped: bool
    shift: tuple

    def matrix(self):
        angle = np.radians(self.angle_deg)
        rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        parity = np.diag([1.0, -1.0 if self.flipped else 1.0])
        return self.scale * rotation @ parity

    def apply(self, xy):
        return np.asarray(xy, dtype=float) @ self.matrix().T + np.asarray(self.shift)


@dataclass(frozen=True)
class PatternMatch:
    """The winning transform and how many stars it brings together."""

    transform: Similarity
    n_votes: int
    n_candidates: int


def fit_similarity(src, dst, flipped):
    """Least-squares similarity transform src -> dst with the given parity."""
    src = np.asarray(src, dtype=float)
    dst = np.asarray(dst, dtype=float)
    s = (src - src.mean(axis=0)) * [1.0, -1.0 if flipped else 1.0]
    d = dst - dst.mean(axis=0)
    # complex-number form: d = a * s with a = scale * exp(i angle)
    zs, zd = s[:, 0] + 1j * s[:, 1], d[:, 0] + 1j * d[:, 1]
    a = np.vdot(zs, zd) / np.vdot(zs, zs).real
    linear = Similarity(float(abs(a)), float(np.degrees(np.angle(a))), flipped, (0.0, 0.0))
    shift = dst.mean(axis=0) - linear.apply(src.mean(axis=0)[None, :])[0]
    return Similarity(linear.scale, linear.angle_deg, flipped, tuple(float(v) for v in shift))


def _triangles(xy, n_neighbours):
    """Triangles of each star with pairs of its nearest neighbours.

    Returns (vertex indices ordered opposite the longest, middle and shortest
    side, longest side length, ratios middle/longest and shortest/longest).
    """
    n = len(xy)
    if n < 3:
        return np.empty((0, 3), int), np.empty(0), np.empty((0, 2))
    k = min(n_neighbours + 1, n)
    _, neighbours = cKDTree(xy).query(xy, k=k)
    seen = set()
    for row in neighbours:
        for pair in itertools.combinations(row[1:], 2):
            seen.add(tuple(sorted((row[0], *pair))))
    triples = np.array(sorted(seen), dtype=int)
    p = xy[triples]  # (T, 3, 2)
    # side i is opposite vertex i
    sides = np.stack([np.hypot(*(p[:, 1] - p[:, 2]).T), np.hypot(*(p[:, 0] - p[:, 2]).T),
                      np.hypot(*(p[:, 0] - p[:, 1]).T)], axis=1)
    order = np.argsort(-sides, axis=1)
    sides = np.take_along_axis(sides, order, axis=1)
    ordered = np.take_along_axis(triples, order, axis=1)
    good = sides[:, 2] > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = sides[:, 1:] / sides[:, :1]
    keep = good & (ratios[:, 1] > 0.1)  # very thin triangles have unstable shapes
    return ordered[keep], sides[keep, 0], ratios[keep]


def count_matches(xy, ref_tree, transform, radius):
    """How many points of ``xy`` land within ``radius`` of a reference point."""
    distance, _ = ref_tree.query(transform.apply(xy), distance_upper_bound=radius)
    return int(np.isfinite(distance).sum())


def pattern_match(xy, ref, scale=1.0, scale_tolerance=0.05, radius=3.0, n_neighbours=6,
                  shape_tolerance=0.01, max_candidates=5000, min_votes=5):
    """Find the similarity transform that maps ``xy`` onto ``ref``.

    ``xy`` and ``ref`` are (N, 2) arrays, brightest first, in the same units
    up to ``scale`` (ref units per xy unit, known within ``scale_tolerance``).
    ``radius`` (ref units) is how close a transformed star must come to count.
    Returns a :class:`PatternMatch`, or None when no transform brings at
    least ``min_votes`` stars together (any one triangle pair brings three).
    """
    xy = np.asarray(xy, dtype=float)
    ref = np.asarray(ref, dtype=float)
    det_idx, det_long, det_ratios = _triangles(xy, n_neighbours)
    ref_idx, ref_long, ref_ratios = _triangles(ref, n_neighbours)
    if len(det_idx) == 0 or len(ref_idx) == 0:
        return None
    pairs = cKDTree(ref_ratios).query_ball_point(det_ratios, r=shape_tolerance)
    candidates = []
    for i, refs in enumerate(pairs):
        for j in refs:
            ratio = ref_long[j] / (det_long[i] * scale)
            if abs(ratio - 1.0) <= scale_tolerance:
                candidates.append((abs(ratio - 1.0), i, j))
    if not candidates:
        return None
    candidates.sort()
    candidates = candidates[:max_candidates]
    ref_tree = cKDTree(ref)
    best, best_votes = None, 0
    for _, i, j in candidates:
        src, dst = xy[det_idx[i]], ref[ref_idx[j]]
        for flipped in (False, True):
            transform = fit_similarity(src, dst, flipped)
            if abs(transform.scale / scale - 1.0) > scale_tolerance:
                continue
            residual = np.hypot(*(transform.apply(src) - dst).T).max()
            if residual > radius:
                continue
            votes = count_matches(xy, ref_tree, transform, radius)
            if votes > best_votes:
                best, best_votes = transform, votes
    if best is None:
        return None
    best, best_votes = _refined(xy, ref, best, radius)
    if best_votes < min_votes:
        return None
    log.debug("pattern match: %d of %d stars agree (%d triangle pairs tried)",
              best_votes, len(xy), len(candidates))
    return PatternMatch(best, best_votes, len(candidates))


def _refined(xy, ref, transform, radius, n_iterations=2):
    """The transform refitted on every star it brings onto a reference star."""
    votes = 0
    for _ in range(n_iterations):
        i_xy, i_ref = cross_match(transform.apply(xy), ref, radius)
        if len(i_xy) < 3:
            break
        transform = fit_similarity(xy[i_xy], ref[i_ref], transform.flipped)
        votes = len(i_xy)
    return transform, max(votes, count_matches(xy, cKDTree(ref), transform, radius))


def cross_match(xy, ref, radius):
    """Pairs (i_xy, i_ref) of mutual nearest neighbours closer than ``radius``."""
    xy = np.asarray(xy, dtype=float)
    ref = np.asarray(ref, dtype=float)
    if len(xy) == 0 or len(ref) == 0:
        return np.empty(0, int), np.empty(0, int)
    distance, nearest_ref = cKDTree(ref).query(xy, distance_upper_bound=radius)
    _, nearest_xy = cKDTree(xy).query(ref)
    i_xy = np.flatnonzero(np.isfinite(distance))
    i_ref = nearest_ref[i_xy]
    mutual = nearest_xy[i_ref] == i_xy
    return i_xy[mutual], i_ref[mutual]
