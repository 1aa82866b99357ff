"""An approximate WCS to start the astrometry from, as ``[astrometry] initial`` says.

``header``: the header WCS when its pixel scale is plausible; otherwise a TAN
guess from the header pointing (``pointing_keys``) and the pixel scale (config,
else header keywords), rotation unknown. ``blind``: astrometry.net
``solve-field`` on the detections (:mod:`ccdphot.wrappers.astrometry_net`),
narrowed by pointing and scale when known.
"""

import logging

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from ccdphot.wrappers import astrometry_net
from ccdphot.wrappers.base import Acceptance

from ccdphot.astrometry import wcsfit
from ccdphot.errors import AstrometryError
from ccdphot.fitsio import header_float, header_value

log = logging.getLogger(__name__)

# A header pixel scale outside this range (arcsec) is taken as a wrong keyword.
_PLAUSIBLE_SCALE_ARCSEC = (0.01, 600.0)
_SCALE_KEYS = ("PIXSCALE", "SECPIX", "SECPIX1", "CCDSCALE", "SCALE")


def header_pointing(header, keys):
    """The pointing (SkyCoord) from the first header keyword pair that parses, and
    which pair it was; (None, None) when none does."""
    for ra_key, dec_key in keys:
        ra, dec = header_value(header, ra_key), header_value(header, dec_key)
        if ra is None or dec is None:
            continue
        try:
            if isinstance(ra, str) and (":" in ra or " " in ra.strip()):
                return SkyCoord(ra, dec, unit=(u.hourangle, u.deg)), f"{ra_key}/{dec_key}"
            return SkyCoord(float(ra) * u.deg, float(dec) * u.deg), f"{ra_key}/{dec_key}"
        except (ValueError, TypeError) as err:
            log.warning("header %s=%r %s=%r is not a position (%s); ignored",
                        ra_key, ra, dec_key, dec, err)
    return None, None


def header_pixel_scale(header, configured_arcsec=0.0):
    """Pixel scale in arcsec and where it came from: ``configured_arcsec`` when
    positive, else header keywords; (None, None) when unknown."""
    if configured_arcsec > 0:
        return float(configured_arcsec), "[astrometry] pixel_scale_arcsec"
    for key in _SCALE_KEYS:
        value = header_float(header, key)
        if value:
            return value, key
    pixel_um, focal_mm = header_float(header, "PIXSIZE1"), header_float(header, "FOCALLEN")
    if pixel_um and focal_mm:
        return 206.264806 * pixel_um / focal_mm, "PIXSIZE1/FOCALLEN"
    return None, None


def usable_wcs(wcs):
    """``wcs`` when it is celestial with a plausible pixel scale, else None."""
    if wcs is None:
        return None
    try:
        scale = wcsfit.pixel_scale_arcsec(wcs)
    except (ValueError, np.linalg.LinAlgError):
        return None
    low, high = _PLAUSIBLE_SCALE_ARCSEC
    return wcs if low <= scale <= high else None


def first_guess(header, header_wcs, shape, cfg, stars, tools, work_dir, name):
    """(WCS, how) from the methods of ``cfg["initial"]`` in order.

    ``stars`` are the usable detections (x_pix, y_pix, FLUX_AUTO); ``tools``
    the tool registry and ``work_dir`` the work directory (blind solving).
    Raises :class:`AstrometryError` naming ``name`` and why no method worked.
    """
    reasons = []
    for method in cfg["initial"]:
        if method == "header":
            guess = _header_guess(header, header_wcs, shape, cfg, reasons)
        else:
            guess = _blind_guess(header, shape, cfg, stars, tools, work_dir, reasons)
        if guess is not None:
            return guess
    raise AstrometryError(f"{name}: cannot start the astrometry: " + "; ".join(reasons))


def _header_guess(header, header_wcs, shape, cfg, reasons):
    """The header WCS; else a TAN guess from the header pointing and pixel scale.

    A pixel scale set in the config overrides the header WCS's (which then
    only gives the pointing), so a wrong header scale can be corrected.
    """
    header_wcs = usable_wcs(header_wcs)
    scale, scale_from = header_pixel_scale(header, cfg["pixel_scale_arcsec"])
    if header_wcs is not None and not cfg["pixel_scale_arcsec"] > 0:
        return header_wcs, "header-wcs"
    if header_wcs is not None:
        center = ((shape[1] - 1) / 2.0, (shape[0] - 1) / 2.0)
        pointing, pointing_from = header_wcs.pixel_to_world(*center), "WCS"
    else:
        pointing, pointing_from = header_pointing(header, cfg["pointing_keys"])
    if pointing is not None and scale:
        log.info("initial guess: pointing from %s, pixel scale %.4g arcsec from %s, "
                 "rotation unknown", pointing_from, scale, scale_from)
        return wcsfit.guess_wcs(pointing, scale, shape), "header-pointing"
    missing = ["no usable header WCS"]
    if pointing is None:
        missing.append("no pointing keywords ("
                       + ", ".join("/".join(k) for k in cfg["pointing_keys"]) + ")")
    if not scale:
        missing.append("no pixel scale (set [astrometry] pixel_scale_arcsec)")
    reasons.append(", ".join(missing))
    return None


def _blind_guess(header, shape, cfg, stars, tools, work_dir, reasons):
    """astrometry.net's blind solution, using pointing and scale when known.

    The guess must be good to ``match_radius_pix``, the tolerance of the
    pattern match that follows.
    """
    if not cfg["index_dir"]:
        reasons.append("blind solving needs [astrometry] index_dir (see docs/astrometry.rst)")
        return None
    scale, _ = header_pixel_scale(header, cfg["pixel_scale_arcsec"])
    pointing, _ = header_pointing(header, cfg["pointing_keys"])
    radius_deg = None
    if pointing is not None and scale:
        radius_deg = (0.5 * np.hypot(*shape) * scale / 3600.0
                      + cfg["pointing_tolerance_arcmin"] / 60.0)
    result = astrometry_net.Job(
        tools.use("solve_field"), work_dir,
        acceptance=Acceptance(cfg["min_matches"], cfg["match_radius_pix"]),
        xy=np.column_stack([stars["x_pix"], stars["y_pix"]]),
        flux=np.asarray(stars["FLUX_AUTO"]), shape=shape, index_dir=cfg["index_dir"],
        scale_arcsec=scale, scale_tolerance=cfg["scale_tolerance"], pointing=pointing,
        radius_deg=radius_deg).run()
    return result.wcs, "blind"
