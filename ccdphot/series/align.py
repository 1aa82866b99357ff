"""Match the stars of every frame to the stars of a reference frame.

With a WCS in every frame, stars are matched by sky position. Without one,
each frame is aligned to the reference frame's pixel grid: first by the
translation most pairs of bright stars agree on, starting from the previous
frame's transform (a drifting field moves a few pixels between frames, so this
costs a KD-tree query); when too few bright stars agree, by the project's
triangle pattern matcher (:mod:`ccdphot.astrometry.starmatch`), which also finds a
rotation or a meridian flip. Then every star is paired with the nearest
reference star within the match radius (mutual nearest neighbours).
"""

import logging
import math
from dataclasses import dataclass

import numpy as np

from ccdphot.astrometry.starmatch import Similarity, cross_match, fit_similarity, pattern_match

log = logging.getLogger(__name__)

N_BRIGHT = 40          # stars per frame used to find the transform
N_BRIGHT_REF = 120     # reference stars they may land on
MIN_BRIGHT_MATCHES = 5  # bright stars that must agree: chance gives < 1 in a crowded field
IDENTITY = Similarity(1.0, 0.0, False, (0.0, 0.0))


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


def _translation_vote(moved, ref, radius):
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


def find_transform(bright, bright_ref, guess, radius):
    """Similarity frame -> reference from bright stars, or (None, reason)."""
    offset, votes = _translation_vote(guess.apply(bright), bright_ref, radius)
    how = "translation"
    transform = _shifted(guess, offset)
    if votes < MIN_BRIGHT_MATCHES:
        match = pattern_match(bright, bright_ref, scale=1.0, scale_tolerance=0.02, radius=radius,
                              min_votes=MIN_BRIGHT_MATCHES)
        if match is None:
            return None, "no star pattern in common with the reference frame"
        transform, how = match.transform, "triangle pattern"
    transform, i_xy, _ = _refit(bright, bright_ref, transform, radius)
    if len(i_xy) < MIN_BRIGHT_MATCHES:
        return None, (f"only {len(i_xy)} of its {len(bright)} brightest stars fall on "
                      "reference stars")
    return (transform, how), None


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
        found, reason = find_transform(xy[order[:N_BRIGHT]], bright_ref, guess, radius_pix)
        if found is None:
            results[frame.name] = (f"{frame.name}: cannot be aligned to reference frame "
                                   f"{reference.name}: {reason} (a different field?)")
            continue
        transform, how = found
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
