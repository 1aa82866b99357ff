"""Align one frame's stars onto a reference frame's stars, without a WCS.

Frames of one field with no (or no trusted) WCS are put on the pixel grid of
a reference frame by their star patterns: light curves
(:mod:`ccdphot.series.align`) and stacking (:mod:`ccdphot.stack.alignment`)
share this. :func:`find_transform` finds the similarity transform from the
bright stars: first the translation most pairs of bright stars agree on,
starting from a guess (a drifting field moves a few pixels between frames);
when too few agree, the triangle pattern matcher of
:mod:`ccdphot.astrometry.starmatch` (any rotation, a flip).
:func:`align_sources` then fits an affine transform to every star that guess
pairs with a reference star, outliers clipped. Pure functions of star lists
(numpy/scipy/astropy).
"""

import logging
from dataclasses import dataclass

import numpy as np
from astropy.stats import sigma_clip

from ccdphot.astrometry.starmatch import Similarity, cross_match, fit_similarity, pattern_match
from ccdphot.errors import AstrometryError

log = logging.getLogger(__name__)

IDENTITY = Similarity(1.0, 0.0, False, (0.0, 0.0))
MIN_MATCHES = 5  # bright stars that must agree: chance gives < 1 in a crowded field


def translation_vote(moved, ref, radius):
    """The shift most pairs (moved star -> reference star) agree on, and its votes.

    Every pair proposes a shift; a coarse histogram (at most 200 x 200 bins)
    finds the crowded cell, and the shifts near it are averaged.
    """
    offsets = (ref[None, :, :] - moved[:, None, :]).reshape(-1, 2)
    low, high = offsets.min(axis=0), offsets.max(axis=0)
    width = max(radius, float((high - low).max()) / 200.0)
    cells = np.floor((offsets - low) / width).astype(int)
    counts = np.zeros(cells.max(axis=0) + 1, dtype=int)
    np.add.at(counts, (cells[:, 0], cells[:, 1]), 1)
    peak = np.array(np.unravel_index(int(np.argmax(counts)), counts.shape))
    centre = low + (peak + 0.5) * width
    best = np.median(offsets[np.abs(offsets - centre).max(axis=1) <= width], axis=0)
    near = np.hypot(*(offsets - best).T) <= radius
    return (offsets[near].mean(axis=0) if near.any() else best), int(near.sum())


def _shifted(transform, offset):
    shift = np.asarray(transform.shift) + offset
    return Similarity(transform.scale, transform.angle_deg, transform.flipped, tuple(shift))


def _refit(xy, ref, transform, radius):
    """The transform refitted on all stars it pairs; (transform, pairs)."""
    i_xy, i_ref = cross_match(transform.apply(xy), ref, radius)
    if len(i_xy) >= 3:
        transform = fit_similarity(xy[i_xy], ref[i_ref], transform.flipped)
        i_xy, i_ref = cross_match(transform.apply(xy), ref, radius)
    return transform, i_xy, i_ref


def find_transform(bright, bright_ref, guess=IDENTITY, radius=2.0, min_matches=MIN_MATCHES):
    """(Similarity frame -> reference, how) from bright stars ((N, 2) arrays, brightest first).

    Raises :class:`AstrometryError` with the reason when the stars do not align
    (another field, too few stars).
    """
    offset, votes = translation_vote(guess.apply(bright), bright_ref, radius)
    how = "translation"
    transform = _shifted(guess, offset)
    if votes < min_matches:
        match = pattern_match(bright, bright_ref, scale=1.0, scale_tolerance=0.02, radius=radius,
                              min_votes=min_matches)
        if match is None:
            raise AstrometryError("no star pattern in common with the reference frame")
        transform, how = match.transform, "triangle pattern"
    transform, i_xy, _ = _refit(bright, bright_ref, transform, radius)
    if len(i_xy) < min_matches:
        raise AstrometryError(f"only {len(i_xy)} of its {len(bright)} brightest stars fall on "
                              "reference stars")
    return transform, how


@dataclass(frozen=True)
class Alignment:
    """``reference_xy = matrix @ xy + shift`` (FITS pixels) and how well it fits."""

    matrix: tuple
    shift: tuple
    n_matched: int
    rms_pix: float
    how: str

    def apply(self, xy):
        """Positions (N, 2) of one frame on the reference frame's pixel grid."""
        return np.asarray(xy, dtype=float) @ np.asarray(self.matrix).T + np.asarray(self.shift)

    def as_dict(self):
        return {"matrix": [list(row) for row in self.matrix], "shift_pix": list(self.shift),
                "n_matched": self.n_matched, "rms_pix": round(self.rms_pix, 4), "how": self.how}


def _column(table, name):
    return np.ma.filled(np.ma.asarray(table[name]).astype(float), np.nan)


def _positions(sources, x, y, mag):
    """(N, 2) positions of a Table (sorted by ``mag``) or an array, finite rows only."""
    if not hasattr(sources, "colnames"):
        xy = np.asarray(sources, dtype=float).reshape(-1, 2)
        return xy[np.isfinite(xy).all(axis=1)]
    xy = np.column_stack([_column(sources, x), _column(sources, y)])
    brightness = _column(sources, mag) if mag in sources.colnames else \
        np.arange(len(xy), dtype=float)
    good = np.isfinite(xy).all(axis=1) & np.isfinite(brightness)
    order = np.flatnonzero(good)[np.argsort(brightness[good], kind="stable")]
    return xy[order]


def _fit_affine(xy, ref):
    """Least-squares affine (2x2 matrix, shift) taking ``xy`` onto ``ref``."""
    design = np.column_stack([xy, np.ones(len(xy))])
    solution, *_ = np.linalg.lstsq(design, ref, rcond=None)
    return solution[:2].T, solution[2]


def _affine_refined(xy, ref, matrix, shift, radius, clip_sigma, n_iterations=3):
    """Pair stars through the transform, refit an affine, clip outliers; repeat."""
    i_xy = i_ref = np.empty(0, int)
    for _ in range(n_iterations):
        i_xy, i_ref = cross_match(xy @ matrix.T + shift, ref, radius)
        if len(i_xy) < 3:
            break
        matrix, shift = _fit_affine(xy[i_xy], ref[i_ref])
        residual = np.hypot(*(xy[i_xy] @ matrix.T + shift - ref[i_ref]).T)
        keep = ~sigma_clip(residual, sigma=clip_sigma, maxiters=3).mask
        if 3 <= keep.sum() < len(keep):
            i_xy, i_ref = i_xy[keep], i_ref[keep]
            matrix, shift = _fit_affine(xy[i_xy], ref[i_ref])
    return matrix, shift, i_xy, i_ref


def align_sources(sources, reference, radius_pix=2.0, n_bright=40, min_matches=6,
                  clip_sigma=3.0, guess=IDENTITY, x="X_IMAGE", y="Y_IMAGE", mag="MAG_AUTO"):
    """The affine transform that puts ``sources`` onto the pixel grid of ``reference``.

    Both are Tables with pixel positions (``x``, ``y``; FITS convention) and
    ``mag`` to rank stars by brightness, or (N, 2) arrays ordered brightest
    first. ``radius_pix`` is how close a transformed star must land on a
    reference star; ``guess`` a first transform (e.g. the previous frame's).
    Returns an :class:`Alignment` fitted on every paired star; raises
    :class:`AstrometryError` when fewer than ``min_matches`` stars pair
    (another field, or too few stars).
    """
    xy = _positions(sources, x, y, mag)
    ref = _positions(reference, x, y, mag)
    if min(len(xy), len(ref)) < min_matches:
        raise AstrometryError(f"only {len(xy)} and {len(ref)} usable stars: at least "
                              f"{min_matches} in each frame are needed to align them")
    transform, how = find_transform(xy[:n_bright], ref[:3 * n_bright], guess, radius_pix,
                                    min_matches)
    matrix, shift, i_xy, i_ref = _affine_refined(xy, ref, transform.matrix(),
                                                 np.asarray(transform.shift, float),
                                                 radius_pix, clip_sigma)
    if len(i_xy) < min_matches:
        raise AstrometryError(f"only {len(i_xy)} stars pair with reference stars within "
                              f"{radius_pix:g} pix (of another field?)")
    residual = xy[i_xy] @ matrix.T + shift - ref[i_ref]
    rms = float(np.sqrt(np.mean(np.sum(residual ** 2, axis=1))))
    log.debug("aligned by %s: %d stars paired, RMS %.3f pix", how, len(i_xy), rms)
    return Alignment(tuple(map(tuple, matrix.tolist())), tuple(shift.tolist()), len(i_xy),
                     rms, how)
