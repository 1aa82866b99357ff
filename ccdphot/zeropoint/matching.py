"""One-to-one matching of the frame's stars to reference stars, and the match radius.

Nearest-neighbour matching lets two detections claim one reference star (a
blend, a cosmic ray beside a star) and then both enter the fit. Here every
pair within the radius is considered, closest first, and a star or reference
already taken is not matched again. The radius, when not configured, follows
the astrometry: four times the astrometric RMS (at least one pixel), or, with
no RMS at hand, four robust sigmas of the separations of a first match within
a generous radius. :func:`contamination` measures how much neighbour light a
coarse survey catalogue has mixed into a star.
"""

import logging

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord

log = logging.getLogger(__name__)

RMS_MULTIPLE = 4.0
MAD_TO_SIGMA = 1.4826


def match_one_to_one(stars, references, radius):
    """Pairs (i_star, i_reference, separation) within ``radius``, each index used once.

    ``stars``, ``references``: SkyCoord arrays; ``radius``: an angle. Pairs are
    taken closest first. Returns two int arrays and an Angle array.
    """
    if len(stars) == 0 or len(references) == 0:
        return np.array([], int), np.array([], int), np.array([]) * u.arcsec
    i_ref, i_star, sep, _ = stars.search_around_sky(references, radius)
    order = np.argsort(sep.arcsec, kind="stable")
    used_star, used_ref = set(), set()
    keep = []
    for k in order:
        s, r = int(i_star[k]), int(i_ref[k])
        if s in used_star or r in used_ref:
            continue
        used_star.add(s)
        used_ref.add(r)
        keep.append(k)
    keep = np.array(keep, int)
    return i_star[keep], i_ref[keep], sep[keep]


def choose_radius(stars, references, pixel_scale_arcsec, astrometric_rms_arcsec=None):
    """The match radius (arcsec) and how it was chosen.

    With an astrometric RMS: ``4 * rms``; otherwise four robust sigmas of the
    separations of a first one-to-one match within 5 pixels. Never below one
    pixel, where a star's own centroid error lives.
    """
    floor = float(pixel_scale_arcsec)
    if astrometric_rms_arcsec:
        radius = max(RMS_MULTIPLE * float(astrometric_rms_arcsec), floor)
        return radius, f"{RMS_MULTIPLE:g} x astrometric RMS {astrometric_rms_arcsec:.3f} arcsec"
    _, _, sep = match_one_to_one(stars, references, 5.0 * floor * u.arcsec)
    if len(sep) < 5:
        return 2.0 * floor, "2 pixels (too few stars to measure the separations)"
    arcsec = sep.arcsec
    spread = MAD_TO_SIGMA * np.median(np.abs(arcsec - np.median(arcsec)))
    radius = max(np.median(arcsec) + RMS_MULTIPLE * spread, floor)
    return float(radius), (f"median + {RMS_MULTIPLE:g} robust sigma of {len(sep)} first-match "
                           "separations")


def contamination(stars, magnitude, radius):
    """Flux of the other frame stars within ``radius`` of each star, over its own flux.

    Survey catalogues of coarse resolution (APASS: 2.6 arcsec pixels and large
    apertures) include such neighbours in a star's magnitude; a calibration star
    with a bright neighbour is biased bright. ``magnitude``: instrumental (NaN
    where unknown, counted as no flux).
    """
    flux = np.where(np.isfinite(magnitude), 10.0 ** (-0.4 * np.asarray(magnitude, float)), 0.0)
    first, second, _, _ = stars.search_around_sky(stars, radius)
    other = first != second
    neighbours = np.bincount(first[other], weights=flux[second[other]], minlength=len(stars))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(flux > 0, neighbours / flux, np.inf)


def sky(ra_deg, dec_deg):
    """SkyCoord of degree arrays (masked values must be removed first)."""
    return SkyCoord(np.asarray(ra_deg, float) * u.deg, np.asarray(dec_deg, float) * u.deg)
