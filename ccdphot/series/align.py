"""Match the stars of every frame to the stars of a reference frame.

With a WCS in every frame, stars are matched by sky position. Without one,
each frame is aligned to the reference frame's pixel grid by
:func:`ccdphot.astrometry.align.find_transform` (shared with stacking): first
the translation most pairs of bright stars agree on, starting from the previous
frame's transform (a drifting field moves a few pixels between frames); when
too few bright stars agree, the triangle pattern matcher, which also finds a
rotation or a meridian flip. Then every star is paired with the nearest
reference star within the match radius (mutual nearest neighbours).
"""

import logging
import math
from dataclasses import dataclass

import numpy as np

from ccdphot.astrometry.align import IDENTITY, find_transform
from ccdphot.astrometry.starmatch import cross_match
from ccdphot.errors import AstrometryError

log = logging.getLogger(__name__)

N_BRIGHT = 40          # stars per frame used to find the transform
N_BRIGHT_REF = 120     # reference stars they may land on
MIN_BRIGHT_MATCHES = 5  # bright stars that must agree: chance gives < 1 in a crowded field


@dataclass
class FrameMatch:
    """Rows of one frame for each reference star (-1: not seen) and how it was found."""

    rows: np.ndarray
    n_matched: int
    transform: object = None  # Similarity frame pixels -> reference pixels (pixel mode)
    how: str = ""


def pixel_positions(frame):
    """(N, 2) detection positions (FITS pixels) of a frame."""
    return np.column_stack([frame.columns["X_IMAGE"], frame.columns["Y_IMAGE"]])


def brightness_order(frame):
    """Row indices of usable detections, brightest first (by MAG_AUTO, else MAG_APER)."""
    columns = frame.columns
    mag = columns["MAG_AUTO"]
    if not np.isfinite(mag).any():
        mag = columns["MAG_APER"]
    usable = (np.isfinite(mag) & np.isfinite(columns["X_IMAGE"]) & np.isfinite(columns["Y_IMAGE"]))
    rows = np.flatnonzero(usable)
    return rows[np.argsort(mag[rows], kind="stable")]


def _rows_for_reference(i_frame, i_ref, n_ref):
    rows = np.full(n_ref, -1, dtype=int)
    rows[i_ref] = i_frame
    return rows


def match_by_pixels(frames, reference, radius_pix):
    """Align every frame to ``reference`` by star patterns; {frame name: FrameMatch | reason}."""
    ref_order = brightness_order(reference)
    ref_xy = pixel_positions(reference)
    ref_valid = np.isfinite(ref_xy).all(axis=1)
    bright_ref = ref_xy[ref_order[:N_BRIGHT_REF]]
    results, guess = {}, IDENTITY
    for frame in frames:
        order = brightness_order(frame)
        xy = pixel_positions(frame)
        if len(order) < MIN_BRIGHT_MATCHES:
            results[frame.name] = f"{frame.name}: only {len(order)} usable detections"
            continue
        try:
            transform, how = find_transform(xy[order[:N_BRIGHT]], bright_ref, guess, radius_pix,
                                            MIN_BRIGHT_MATCHES)
        except AstrometryError as err:
            results[frame.name] = (f"{frame.name}: cannot be aligned to reference frame "
                                   f"{reference.name}: {err} (a different field?)")
            continue
        guess = transform
        usable = np.isfinite(xy).all(axis=1)
        ref_rows = np.flatnonzero(ref_valid)
        i_xy, i_ref = cross_match(transform.apply(xy[usable]), ref_xy[ref_rows], radius_pix)
        rows = _rows_for_reference(np.flatnonzero(usable)[i_xy], ref_rows[i_ref], len(ref_xy))
        results[frame.name] = FrameMatch(rows, len(i_xy), transform, how)
    return results


def _unit_vectors(ra_deg, dec_deg):
    ra, dec = np.radians(ra_deg), np.radians(dec_deg)
    return np.column_stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)])


def sky_positions(frame):
    """(ra, dec) arrays in degrees of a frame's rows (NaN without a sky position)."""
    return frame.columns["ALPHA_J2000"], frame.columns["DELTA_J2000"]


def match_by_sky(frames, reference, radius_arcsec, min_matches=MIN_BRIGHT_MATCHES):
    """Pair every frame's stars with the reference stars by sky position."""
    ref_ra, ref_dec = sky_positions(reference)
    ref_rows = np.flatnonzero(np.isfinite(ref_ra) & np.isfinite(ref_dec))
    ref_vectors = _unit_vectors(ref_ra[ref_rows], ref_dec[ref_rows])
    chord = 2.0 * math.sin(math.radians(radius_arcsec / 3600.0) / 2.0)
    results = {}
    for frame in frames:
        ra, dec = sky_positions(frame)
        rows = np.flatnonzero(np.isfinite(ra) & np.isfinite(dec))
        i_xy, i_ref = cross_match(_unit_vectors(ra[rows], dec[rows]), ref_vectors, chord)
        if len(i_xy) < min_matches:
            results[frame.name] = (f"{frame.name}: only {len(i_xy)} stars within "
                                   f"{radius_arcsec:.1f} arcsec of reference frame "
                                   f"{reference.name}'s stars (a different field?)")
            continue
        results[frame.name] = FrameMatch(
            _rows_for_reference(rows[i_xy], ref_rows[i_ref], len(ref_ra)), len(i_xy),
            how="sky position")
    return results
