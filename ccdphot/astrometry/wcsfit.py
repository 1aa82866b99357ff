"""Fit a celestial WCS to matched stars and measure how well it fits.

Pixel coordinates here are FITS convention (first pixel = 1.0), as in the
SExtractor tables; astropy's ``origin=1`` is used throughout. The residual
figures are on-sky arcseconds along RA (times cos Dec) and Dec, the numbers
the astrometry step reports and checks against its thresholds.
"""

import logging
import re
import warnings
from dataclasses import dataclass

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.stats import sigma_clip
from astropy.wcs import WCS
from astropy.wcs.utils import fit_wcs_from_points, proj_plane_pixel_scales

from ccdphot.astrometry.starmatch import cross_match

log = logging.getLogger(__name__)

# Keywords of any celestial WCS convention (TAN, TPV, SIP, IRAF WAT, AIPS CROTA),
# removed from a header before a new solution is written into it.
_WCS_KEY = re.compile(
    r"^(WCSAXES|CTYPE\d|CRVAL\d|CRPIX\d|CDELT\d|CUNIT\d|CROTA\d|CD\d_\d|PC\d_\d|PV\d_\d+|"
    r"PS\d_\d+|LONPOLE|LATPOLE|RADESYS|RADECSYS|EQUINOX|EPOCH|MJDREF|"
    r"A_ORDER|B_ORDER|AP_ORDER|BP_ORDER|A_\d+_\d+|B_\d+_\d+|AP_\d+_\d+|BP_\d+_\d+|"
    r"A_DMAX|B_DMAX|WAT\d_\d+|WCSDIM|LTM\d_\d|LTV\d)$")


@dataclass(frozen=True)
class FitQuality:
    """Residual figures of a WCS against matched reference stars."""

    n_matched: int
    rms_ra_arcsec: float
    rms_dec_arcsec: float

    @property
    def rms_arcsec(self):
        """Total (radial) RMS."""
        return float(np.hypot(self.rms_ra_arcsec, self.rms_dec_arcsec))

    def as_dict(self):
        return {"n_matched": self.n_matched,
                "rms_ra_arcsec": round(self.rms_ra_arcsec, 4),
                "rms_dec_arcsec": round(self.rms_dec_arcsec, 4),
                "rms_arcsec": round(self.rms_arcsec, 4)}


def pixel_scale_arcsec(wcs):
    """Mean pixel scale of a celestial WCS in arcsec."""
    return float(proj_plane_pixel_scales(wcs.celestial).mean() * 3600.0)


def guess_wcs(center, scale_arcsec, shape):
    """A plain TAN WCS: ``center`` (SkyCoord) on the frame centre, north up, east left."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [center.icrs.ra.deg, center.icrs.dec.deg]
    wcs.wcs.crpix = [(shape[1] + 1) / 2.0, (shape[0] + 1) / 2.0]
    scale = scale_arcsec / 3600.0
    wcs.wcs.cd = [[-scale, 0.0], [0.0, scale]]
    wcs.wcs.radesys = "ICRS"
    return wcs


def perturbed_wcs(wcs, shift_arcsec=20.0, rotation_deg=0.5, scale=1.01):
    """A plain TAN copy of ``wcs`` moved east, rotated and scaled (distortion dropped).

    For robustness checks: a solver must recover the original from it.
    """
    original = wcs.celestial
    angle = np.radians(rotation_deg)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    new = WCS(naxis=2)
    new.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    new.wcs.crpix = original.wcs.crpix
    new.wcs.cd = rotation @ original.pixel_scale_matrix * scale
    ra, dec = original.wcs.crval
    new.wcs.crval = [ra + shift_arcsec / 3600.0 / np.cos(np.radians(dec)), dec]
    new.wcs.radesys = "ICRS"
    return new


def sky_offsets_arcsec(wcs, xy, sky):
    """(dRA cos Dec, dDec) in arcsec of ``wcs(xy)`` minus ``sky``, per star."""
    ra, dec = wcs.all_pix2world(xy[:, 0], xy[:, 1], 1)
    dra = (ra - sky.ra.deg + 180.0) % 360.0 - 180.0
    return np.column_stack([dra * np.cos(np.radians(sky.dec.deg)),
                            dec - sky.dec.deg]) * 3600.0


def quality(wcs, xy, sky):
    """:class:`FitQuality` of ``wcs`` for matched pixel positions and sky positions."""
    offsets = sky_offsets_arcsec(wcs, xy, sky)
    rms = np.sqrt(np.mean(offsets ** 2, axis=0)) if len(offsets) else (np.nan, np.nan)
    return FitQuality(len(xy), float(rms[0]), float(rms[1]))


def fit_wcs(xy, sky, sip_degree=0):
    """TAN (plus SIP of ``sip_degree`` > 0) WCS fitted to FITS pixel positions."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # fit_wcs_from_points works with 0-based pixel positions
        wcs = fit_wcs_from_points((xy[:, 0] - 1.0, xy[:, 1] - 1.0), sky,
                                  projection="TAN", sip_degree=sip_degree or None)
    wcs.wcs.radesys = "ICRS"
    return wcs


def match_and_fit(xy, sky, wcs, radius_arcsec, sip_degree=0, n_iterations=4,
                  clip_sigma=3.0):
    """Cross-match ``xy`` (through ``wcs``) to ``sky`` and refit, a few times.

    Each pass matches mutual nearest neighbours within the radius, fits a new
    WCS, drops 3-sigma outliers and refits; the radius then shrinks to five
    times the RMS (never below a third of a pixel). Returns (wcs, i_xy, i_sky);
    ``i_xy`` and ``i_sky`` index the stars the last fit used.
    """
    empty = np.empty(0, int)
    i_xy, i_sky = empty, empty
    for iteration in range(n_iterations):
        i_xy, i_sky = match_with_wcs(wcs, xy, sky, radius_arcsec)
        degree = affordable_degree(len(i_xy), sip_degree) if sip_degree else 0
        if len(i_xy) < 4:
            return wcs, empty, empty
        wcs = fit_wcs(xy[i_xy], sky[i_sky], degree if iteration else 0)
        offsets = np.hypot(*sky_offsets_arcsec(wcs, xy[i_xy], sky[i_sky]).T)
        keep = ~sigma_clip(offsets, sigma=clip_sigma, maxiters=3, cenfunc="median").mask
        if keep.sum() >= 4 and not keep.all():
            i_xy, i_sky = i_xy[keep], i_sky[keep]
            wcs = fit_wcs(xy[i_xy], sky[i_sky], degree if iteration else 0)
        rms = quality(wcs, xy[i_xy], sky[i_sky]).rms_arcsec
        radius_arcsec = max(5.0 * rms, pixel_scale_arcsec(wcs) / 3.0)
    return wcs, i_xy, i_sky


def wcs_difference_arcsec(wcs_a, wcs_b, shape, steps=16):
    """How far two WCS put the same pixels apart: (median, max) in arcsec over a grid.

    Used to compare a solution with an independent one (the original header
    WCS, the other exposure of a pair) across the whole frame.
    """
    ny, nx = shape
    gx, gy = np.meshgrid(np.linspace(1, nx, steps), np.linspace(1, ny, steps))
    xy = np.column_stack([gx.ravel(), gy.ravel()])
    ra, dec = wcs_b.all_pix2world(xy[:, 0], xy[:, 1], 1)
    separation = np.hypot(*sky_offsets_arcsec(wcs_a, xy, on_sky(ra, dec)).T)
    return float(np.median(separation)), float(separation.max())


def match_with_wcs(wcs, xy, sky, radius_arcsec):
    """Mutual nearest pairs (i_xy, i_sky) closer than the radius on the sky."""
    ra, dec = wcs.all_pix2world(xy[:, 0], xy[:, 1], 1)
    center = SkyCoord(*wcs.wcs.crval, unit="deg")
    return cross_match(_plane_arcsec(ra, dec, center),
                       _plane_arcsec(sky.ra.deg, sky.dec.deg, center), radius_arcsec)


def _n_terms(degree):
    """Number of SIP coefficients per axis of a given degree (0: the linear part)."""
    return 3 if not degree else (degree + 1) * (degree + 2) // 2


def affordable_degree(n_stars, degree):
    """The highest polynomial degree up to ``degree`` that ``n_stars`` constrain.

    A degree-d polynomial has (d+1)(d+2)/2 terms per axis; at least twice as
    many stars are asked for, so that the residuals still measure something.
    """
    while degree > 1 and n_stars < 2 * _n_terms(degree):
        degree -= 1
    return degree


def _plane_arcsec(ra, dec, center):
    """Gnomonic (TAN) projection about ``center`` in arcsec (xi east, eta north)."""
    ra0, dec0 = np.radians(center.ra.deg), np.radians(center.dec.deg)
    ra, dec = np.radians(ra), np.radians(dec)
    cos_c = np.sin(dec0) * np.sin(dec) + np.cos(dec0) * np.cos(dec) * np.cos(ra - ra0)
    xi = np.cos(dec) * np.sin(ra - ra0) / cos_c
    eta = (np.cos(dec0) * np.sin(dec) - np.sin(dec0) * np.cos(dec) * np.cos(ra - ra0)) / cos_c
    return np.column_stack([xi, eta]) * (180.0 / np.pi * 3600.0)


def strip_wcs(header):
    """A copy of ``header`` without any WCS keyword (TAN, TPV, SIP, IRAF, AIPS)."""
    header = header.copy()
    for key in [k for k in header.keys() if _WCS_KEY.match(k)]:
        header.remove(key, ignore_missing=True, remove_all=True)
    return header


def replace_wcs(header, wcs, cd_matrix=False):
    """A copy of ``header`` with every old WCS keyword replaced by ``wcs``.

    ``cd_matrix`` writes a CD matrix and EQUINOX instead of astropy's PC +
    CDELT, for tools that read only the classic form (WCSTools, SCAMP).
    """
    header = strip_wcs(header)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        header.update(wcs.to_header(relax=True))
    if cd_matrix:
        for key in ("PC1_1", "PC1_2", "PC2_1", "PC2_2", "CDELT1", "CDELT2"):
            header.remove(key, ignore_missing=True)
        for (i, j), value in np.ndenumerate(wcs.celestial.pixel_scale_matrix):
            header[f"CD{i + 1}_{j + 1}"] = float(value)
        header["EQUINOX"] = 2000.0
    return header


def on_sky(ra_deg, dec_deg):
    return SkyCoord(np.asarray(ra_deg, float) * u.deg, np.asarray(dec_deg, float) * u.deg)
