"""Align one frame's stars onto a reference frame's stars, without a WCS.

Frames of one field with no (or no trusted) WCS are put on the pixel grid of
a reference frame by their star patterns, for stacking and for light curves.
First guess: the translation most pairs of bright stars agree on (a drifting
field, the common case); when too few agree, the triangle pattern matcher of
:mod:`ccdphot.astrometry.starmatch` (any rotation, a flip). Then an affine
transform is fitted to every star the guess pairs with a reference star,
outliers clipped. Pure functions of star lists (numpy/scipy/astropy).
"""

import logging
from dataclasses import dataclass

import numpy as np
from astropy.stats import sigma_clip
from scipy.spatial import cKDTree

from ccdphot.astrometry.starmatch import cross_match, pattern_match
from ccdphot.errors import AstrometryError

log = logging.getLogger(__name__)


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


def _translation(bright, bright_ref, radius):
    """The shift most (star -> reference star) pairs agree on, and how many agree."""
    offsets = (bright_ref[None, :, :] - bright[:, None, :]).reshape(-1, 2)
    counts = cKDTree(offsets).query_ball_point(offsets, r=radius, return_length=True)
    best = int(np.argmax(counts))
    close = np.hypot(*(offsets - offsets[best]).T) <= radius
    return np.median(offsets[close], axis=0), int(counts[best])


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
                  clip_sigma=3.0, x="X_IMAGE", y="Y_IMAGE", mag="MAG_AUTO"):
    """The transform that puts ``sources`` onto the pixel grid of ``reference``.

    Both are Tables with pixel positions (``x``, ``y``; FITS convention) and
    ``mag`` to rank stars by brightness, or (N, 2) arrays ordered brightest
    first. ``radius_pix`` is how close a transformed star must land on a
    reference star. Returns an :class:`Alignment` (affine, fitted on every
    paired star); raises :class:`AstrometryError` when fewer than
    ``min_matches`` stars can be paired (another field, or too few stars).
    """
    xy = _positions(sources, x, y, mag)
    ref = _positions(reference, x, y, mag)
    if min(len(xy), len(ref)) < min_matches:
        raise AstrometryError(f"only {len(xy)} and {len(ref)} usable stars: at least "
                              f"{min_matches} in each frame are needed to align them")
    bright, bright_ref = xy[:n_bright], ref[:3 * n_bright]
    shift, votes = _translation(bright, bright_ref, radius_pix)
    matrix, how = np.eye(2), "translation"
    if votes < min_matches:
        match = pattern_match(bright, bright_ref, scale=1.0, scale_tolerance=0.02,
                              radius=radius_pix, min_votes=min_matches)
        if match is None:
            raise AstrometryError("no star pattern in common with the reference frame "
                                  "(of another field?)")
        matrix, shift = match.transform.matrix(), np.asarray(match.transform.shift)
        how = "triangle pattern"
    matrix, shift, i_xy, i_ref = _affine_refined(xy, ref, matrix, np.asarray(shift, float),
                                                 radius_pix, clip_sigma)
    if len(i_xy) < min_matches:
        raise AstrometryError(f"only {len(i_xy)} stars pair with reference stars within "
                              f"{radius_pix:g} pix (of another field?)")
    residual = xy[i_xy] @ matrix.T + shift - ref[i_ref]
    rms = float(np.sqrt(np.mean(np.sum(residual ** 2, axis=1))))
    log.debug("aligned by %s: %d stars paired, RMS %.3f pix", how, len(i_xy), rms)
    return Alignment(tuple(map(tuple, matrix.tolist())), tuple(shift.tolist()), len(i_xy),
                     rms, how)
