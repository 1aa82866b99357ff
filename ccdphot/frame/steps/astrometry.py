"""``astrometry`` step: a WCS for the frame, checked against a reference catalogue.

The solver chain is configured in ``[astrometry]``:

* initial solution: ``header`` (the header WCS, or the header pointing with a
  pixel scale from the header or the config) matched to the reference stars by
  triangle patterns, which tolerates any rotation and pointing errors up to
  ``pointing_tolerance_arcmin``; or ``blind`` (astrometry.net ``solve-field``
  with a local index) when the header has no usable pointing;
* refinement: ``scamp`` (TPV distortion), ``ccmap`` (IRAF polynomial, written
  as SIP), ``imwcs`` (WCSTools, linear) or ``fit`` (ccdphot's TAN + SIP fit).

The result is checked (number of matched stars, RMS in arcsec along RA and Dec
against the reference) before it is written into the working copy's header;
a solution that fails the thresholds raises :class:`AstrometryError` and the
frame keeps no new WCS. Without a reference catalogue (offline, nothing
cached, no ``--refcat``) a usable header WCS is kept, flagged as unrefined.
"""

import logging

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits

from ccdphot import catalogs
from ccdphot.astrometry import wcsfit
from ccdphot.astrometry.residuals import RESIDUALS_TABLE, residual_table
from ccdphot.astrometry.starmatch import pattern_match
from ccdphot.errors import AstrometryError, CatalogError, ConfigError
from ccdphot.products import write_fits_atomic, write_table_atomic
from ccdphot.wrappers import astrometry_net, ccmap, scamp, wcstools

log = logging.getLogger(__name__)

REFINERS = ("scamp", "ccmap", "imwcs", "fit")
INITIAL_METHODS = ("header", "blind")
# Reference magnitudes used to rank stars by brightness, in order of preference.
_RANK_BANDS = ("G", "R", "r", "V", "I", "i", "RP", "BP", "B", "g", "J")
# A header pixel scale outside this range (arcsec) is taken as a wrong keyword.
_PLAUSIBLE_SCALE_ARCSEC = (0.01, 600.0)
_SCALE_KEYS = ("PIXSCALE", "SECPIX", "SECPIX1", "CCDSCALE", "SCALE")


def run(ctx):
    cfg = ctx.config["astrometry"]
    _check_config(cfg)
    stars = usable_stars(ctx.detections)
    solver = cfg["refine"]
    try:
        if len(stars) < cfg["min_matches"]:
            raise AstrometryError(
                f"{ctx.input_path.name}: only {len(stars)} usable detections, fewer than "
                f"[astrometry] min_matches={cfg['min_matches']}; no WCS can be fitted")
        guess, how = _first_guess(ctx, cfg, stars)
        center, radius = _field(guess, ctx.shape, cfg)
        reference, why_none = _reference(ctx, cfg, center, radius)
        if reference is None:
            return _keep_header_wcs(ctx, why_none)
        initial = _initial_solution(ctx, cfg, stars, reference, guess, how)
        wcs, solver_figures = _refine(ctx, cfg, solver, stars, reference, initial)
        quality = _final_quality(cfg, wcs, stars, reference)
        accept(quality, wcsfit.pixel_scale_arcsec(wcs), cfg, solver, ctx.input_path.name)
    except AstrometryError as err:
        if cfg["keep_header_wcs"] and usable_header_wcs(ctx) is not None:
            return _keep_header_wcs(ctx, str(err))
        raise
    write_solution(ctx, wcs)
    write_table_atomic(residual_table(wcs, _xy(stars), _reference_sky(reference),
                                      2.0 * cfg["max_rms_pix"] * wcsfit.pixel_scale_arcsec(wcs)),
                       ctx.work_dir / RESIDUALS_TABLE, format="ascii.ecsv")
    figures = {"solver": f"{how}+{solver}", **quality.as_dict(),
               "pixel_scale_arcsec": round(wcsfit.pixel_scale_arcsec(wcs), 5),
               "n_reference": len(reference), "wcs_refined": True}
    ctx.qc.update({"wcs_refined": True, "astrometry_solver": figures["solver"],
                   "astrometry_n_matched": quality.n_matched,
                   "astrometry_rms_ra_arcsec": figures["rms_ra_arcsec"],
                   "astrometry_rms_dec_arcsec": figures["rms_dec_arcsec"]})
    ctx.details["astrometry"] = {**figures, "initial": how, "solver_figures": solver_figures,
                                 "reference": reference.meta.get("catalog", "")}
    return figures


def _check_config(cfg):
    if cfg["refine"] not in REFINERS:
        raise ConfigError(f"[astrometry] refine = {cfg['refine']!r} is not one of "
                          f"{', '.join(REFINERS)}")
    unknown = [m for m in cfg["initial"] if m not in INITIAL_METHODS]
    if unknown or not cfg["initial"]:
        raise ConfigError(f"[astrometry] initial = {list(cfg['initial'])!r}: give a list of "
                          f"{', '.join(INITIAL_METHODS)}")
    if not 1 <= cfg["ccmap_order"] <= 4:
        raise ConfigError(f"[astrometry] ccmap_order = {cfg['ccmap_order']}: give 1 to 4")


def usable_stars(detections):
    """Detections fit for astrometry, brightest first: x, y (FITS pixels), flux.

    Windowed centroids are used when SExtractor measured them. Detections
    with FLAGS 4 and above (saturated, truncated, corrupted) are left out;
    crowded and blended ones (1, 2) are kept.
    """
    if detections is None:
        raise AstrometryError("the astrometry step needs the detect step's detections; "
                              "run it with the detect step")
    x_col = "XWIN_IMAGE" if "XWIN_IMAGE" in detections.colnames else "X_IMAGE"
    y_col = "YWIN_IMAGE" if "YWIN_IMAGE" in detections.colnames else "Y_IMAGE"
    flux = np.asarray(detections["FLUX_AUTO"], float)
    flags = np.asarray(detections["FLAGS"])
    good = (flux > 0) & ((flags & ~0x3) == 0) & np.isfinite(np.asarray(detections[x_col], float))
    order = np.argsort(-flux[good])
    index = np.flatnonzero(good)[order]
    table = detections[index]
    table["x_pix"] = np.asarray(detections[x_col], float)[index]
    table["y_pix"] = np.asarray(detections[y_col], float)[index]
    return table


def _xy(stars):
    return np.column_stack([stars["x_pix"], stars["y_pix"]])


def header_pointing(ctx, keys):
    """The pointing from the first header keyword pair that parses, or None."""
    for ra_key, dec_key in keys:
        ra, dec = ctx.header_value(ra_key), ctx.header_value(dec_key)
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


def header_pixel_scale(ctx, cfg):
    """Pixel scale in arcsec: config, else header keywords; None if unknown."""
    if cfg["pixel_scale_arcsec"] > 0:
        return float(cfg["pixel_scale_arcsec"]), "[astrometry] pixel_scale_arcsec"
    for key in _SCALE_KEYS:
        value = ctx.header_float(key)
        if value:
            return value, key
    pixel_um, focal_mm = ctx.header_float("PIXSIZE1"), ctx.header_float("FOCALLEN")
    if pixel_um and focal_mm:
        return 206.264806 * pixel_um / focal_mm, "PIXSIZE1/FOCALLEN"
    return None, None


def usable_header_wcs(ctx):
    """The header WCS when it is celestial with a plausible pixel scale, else None."""
    if ctx.wcs is None:
        return None
    try:
        scale = wcsfit.pixel_scale_arcsec(ctx.wcs)
    except (ValueError, np.linalg.LinAlgError):
        return None
    low, high = _PLAUSIBLE_SCALE_ARCSEC
    return ctx.wcs if low <= scale <= high else None


def _first_guess(ctx, cfg, stars):
    """An approximate WCS to start from, and how it was found (``initial`` order)."""
    reasons = []
    for method in cfg["initial"]:
        guess = _header_guess(ctx, cfg, reasons) if method == "header" else _blind_guess(
            ctx, cfg, stars, reasons)
        if guess is not None:
            return guess
    raise AstrometryError(f"{ctx.input_path.name}: cannot start the astrometry: "
                          + "; ".join(reasons))


def _header_guess(ctx, cfg, reasons):
    """The header WCS; else a TAN guess from the header pointing and pixel scale.

    A pixel scale set in the config overrides the header WCS's (which then
    only gives the pointing), so a wrong header scale can be corrected.
    """
    header_wcs = usable_header_wcs(ctx)
    scale, scale_from = header_pixel_scale(ctx, cfg)
    if header_wcs is not None and not cfg["pixel_scale_arcsec"] > 0:
        return header_wcs, "header-wcs"
    if header_wcs is not None:
        pointing, pointing_from = header_wcs.pixel_to_world(*_center_pix0(ctx.shape)), "WCS"
    else:
        pointing, pointing_from = header_pointing(ctx, cfg["pointing_keys"])
    if pointing is not None and scale:
        log.info("initial guess: pointing from %s, pixel scale %.4g arcsec from %s, "
                 "rotation unknown", pointing_from, scale, scale_from)
        return wcsfit.guess_wcs(pointing, scale, ctx.shape), "header-pointing"
    missing = ["no usable header WCS"]
    if pointing is None:
        missing.append("no pointing keywords ("
                       + ", ".join("/".join(k) for k in cfg["pointing_keys"]) + ")")
    if not scale:
        missing.append("no pixel scale (set [astrometry] pixel_scale_arcsec)")
    reasons.append(", ".join(missing))
    return None


def _blind_guess(ctx, cfg, stars, reasons):
    """astrometry.net's blind solution, using pointing and scale when known."""
    if not cfg["index_dir"]:
        reasons.append("blind solving needs [astrometry] index_dir (see docs/astrometry.rst)")
        return None
    scale, _ = header_pixel_scale(ctx, cfg)
    pointing, _ = header_pointing(ctx, cfg["pointing_keys"])
    radius_deg = None
    if pointing is not None and scale:
        radius_deg = (_half_diagonal_deg(ctx.shape, scale)
                      + cfg["pointing_tolerance_arcmin"] / 60.0)
    wcs = astrometry_net.solve(
        ctx.tools.use("solve_field"), _xy(stars), np.asarray(stars["FLUX_AUTO"]), ctx.shape,
        ctx.work_dir, cfg["index_dir"], scale_arcsec=scale,
        scale_tolerance=cfg["scale_tolerance"], pointing=pointing, radius_deg=radius_deg)
    return wcs, "blind"


def _center_pix0(shape):
    return (shape[1] - 1) / 2.0, (shape[0] - 1) / 2.0


def _half_diagonal_deg(shape, scale_arcsec):
    return 0.5 * np.hypot(*shape) * scale_arcsec / 3600.0


def _field(guess, shape, cfg):
    """Centre and search radius of the reference query for a guessed WCS."""
    center, radius = catalogs.frame_region(guess, shape)
    return center, radius + cfg["pointing_tolerance_arcmin"] * u.arcmin


def _reference(ctx, cfg, center, radius):
    """Reference stars around the field, or (None, reason) when none is at hand."""
    try:
        table = catalogs.get_reference(center, radius, catalogs=list(cfg["catalogs"]) or None,
                                       epoch=catalogs.frame_epoch(ctx.header), config=ctx.config,
                                       refcat=ctx.options.get("refcat"))
    except CatalogError as err:
        return None, str(err)
    if len(table) == 0:
        return None, (f"the reference catalogue has no star within {radius:.3f} of "
                      f"{center.to_string('hmsdms')}")
    band = rank_band(table)
    if band is not None:
        mags = np.ma.filled(np.ma.asarray(table[band], float), np.inf)
        table = table[np.argsort(mags, kind="stable")]
    log.info("reference: %d stars from %s within %.3f deg", len(table),
             table.meta.get("catalog", "the catalogue"), radius.to_value(u.deg))
    return table, None


def rank_band(reference):
    """The reference band used to rank stars by brightness (None: keep the order)."""
    return next((b for b in _RANK_BANDS if b in reference.colnames), None)


def _keep_header_wcs(ctx, why):
    """No reference or no acceptable solution: keep a usable header WCS, unrefined."""
    if usable_header_wcs(ctx) is None or not ctx.config["astrometry"]["keep_header_wcs"]:
        raise AstrometryError(f"{ctx.input_path.name}: no astrometric solution ({why}); "
                              "give --refcat FILE or go online")
    log.warning("header WCS kept, NOT refined: %s", why)
    ctx.qc["wcs_refined"] = False
    ctx.details["astrometry"] = {"wcs_refined": False, "solver": "header (unrefined)",
                                 "reason": why}
    # "applied": False marks the step as skipped in run.json and the frame status.
    return {"applied": False, "solver": "header (unrefined)", "wcs_refined": False,
            "reason": f"header WCS kept, not refined: {why}"}


def _reference_sky(reference):
    return wcsfit.on_sky(reference["ra"], reference["dec"])


def _initial_solution(ctx, cfg, stars, reference, guess, how):
    """Pattern-match the brightest stars, then a linear fit: (wcs, i_star, i_ref)."""
    sky = _reference_sky(reference)
    xy = _xy(stars)
    ref_pix = np.column_stack(guess.all_world2pix(sky.ra.deg, sky.dec.deg, 1))
    margin = cfg["pointing_tolerance_arcmin"] * 60.0 / wcsfit.pixel_scale_arcsec(guess)
    height, width = ctx.shape
    inside = ((ref_pix[:, 0] > -margin) & (ref_pix[:, 0] < width + margin)
              & (ref_pix[:, 1] > -margin) & (ref_pix[:, 1] < height + margin)
              & np.isfinite(ref_pix).all(axis=1))
    n_ref_frame = int(((ref_pix[:, 0] > 0) & (ref_pix[:, 0] < width) & (ref_pix[:, 1] > 0)
                       & (ref_pix[:, 1] < height)).sum())
    n_stars = int(min(cfg["pattern_stars"], max(2 * n_ref_frame, 10), len(xy)))
    area_ratio = (width + 2 * margin) * (height + 2 * margin) / (width * height)
    n_refs = int(min(inside.sum(), max(n_stars, 10) * area_ratio * 1.5))
    ref_idx = np.flatnonzero(inside)[:n_refs]
    min_votes = min(cfg["min_matches"], max(5, n_stars // 4))
    match = pattern_match(xy[:n_stars], ref_pix[ref_idx], scale=1.0,
                          scale_tolerance=cfg["scale_tolerance"],
                          radius=cfg["match_radius_pix"], min_votes=min_votes)
    if match is None:
        raise AstrometryError(
            f"{ctx.input_path.name}: no pattern of the {n_stars} brightest stars matches the "
            f"{len(ref_idx)} reference stars near the {how} guess (at least {min_votes} "
            "stars must agree); "
            "check the pointing keywords and the pixel scale "
            f"({wcsfit.pixel_scale_arcsec(guess):.4g} arcsec/pix used)")
    log.info("pattern match: %d of %d bright stars agree (rotation %.2f deg, scale x%.4f%s)",
             match.n_votes, n_stars, match.transform.angle_deg, match.transform.scale,
             ", flipped" if match.transform.flipped else "")
    # detections -> guess pixels -> sky, then a linear TAN fit to all matches
    moved = match.transform.apply(xy)
    ra, dec = guess.all_pix2world(moved[:, 0], moved[:, 1], 1)
    start = wcsfit.fit_wcs(xy[:n_stars], wcsfit.on_sky(ra[:n_stars], dec[:n_stars]))
    radius = cfg["match_radius_pix"] * wcsfit.pixel_scale_arcsec(guess)
    wcs, i_star, i_ref = wcsfit.match_and_fit(xy, sky, start, radius, sip_degree=0)
    if len(i_star) < cfg["min_matches"]:
        raise AstrometryError(f"{ctx.input_path.name}: only {len(i_star)} stars match the "
                              f"reference after the pattern match (min_matches="
                              f"{cfg['min_matches']})")
    return wcs, i_star, i_ref


def _refine(ctx, cfg, solver, stars, reference, initial):
    """Run the configured refinement; returns (wcs, the solver's own figures)."""
    wcs0, i_star, i_ref = initial
    xy, sky = _xy(stars), _reference_sky(reference)
    if solver == "fit":
        radius = cfg["match_radius_pix"] * wcsfit.pixel_scale_arcsec(wcs0) / 2.0
        wcs, _, _ = wcsfit.match_and_fit(xy, sky, wcs0, radius, cfg["sip_degree"])
        return wcs, {"sip_degree": wcs.sip.a_order if wcs.sip is not None else 0}
    if solver == "scamp":
        scale = wcsfit.pixel_scale_arcsec(wcs0)
        degree = wcsfit.affordable_degree(len(i_star), cfg["scamp_distort_degrees"])
        return scamp.solve(ctx.tools.use("scamp"), stars, reference, wcs0, ctx.header,
                           ctx.work_dir, distort_degrees=degree,
                           match_radius_arcsec=cfg["match_radius_pix"] * scale,
                           min_matches=cfg["min_matches"],
                           max_sigma_arcsec=cfg["max_rms_pix"] * scale,
                           band=rank_band(reference))
    if solver == "ccmap":
        return ccmap.solve(ctx.tools.use("iraf"), xy[i_star], sky[i_ref], ctx.shape,
                           ctx.work_dir, degree=cfg["ccmap_order"])
    return wcstools.solve(ctx.tools.use("imwcs"), ctx.image_name, ctx.work_dir, wcs0,
                          ctx.header, stars, reference, band=rank_band(reference))


def _final_quality(cfg, wcs, stars, reference):
    """Match the refined WCS to the reference once more and measure the residuals."""
    xy, sky = _xy(stars), _reference_sky(reference)
    radius = 2.0 * cfg["max_rms_pix"] * wcsfit.pixel_scale_arcsec(wcs)
    i_star, i_ref = wcsfit.match_with_wcs(wcs, xy, sky, radius)
    return wcsfit.quality(wcs, xy[i_star], sky[i_ref])


def accept(quality, scale_arcsec, cfg, solver, name):
    """Raise :class:`AstrometryError` when a solution misses the thresholds."""
    max_rms = cfg["max_rms_pix"] * scale_arcsec
    if quality.n_matched < cfg["min_matches"]:
        raise AstrometryError(
            f"{name}: {solver} solution rejected: {quality.n_matched} stars matched, fewer "
            f"than [astrometry] min_matches={cfg['min_matches']}; the frame keeps no new WCS")
    worst = max(quality.rms_ra_arcsec, quality.rms_dec_arcsec)
    if not np.isfinite(worst) or worst > max_rms:
        raise AstrometryError(
            f"{name}: {solver} solution rejected: RMS {quality.rms_ra_arcsec:.3f}/"
            f"{quality.rms_dec_arcsec:.3f} arcsec (RA/Dec) over {quality.n_matched} stars "
            f"exceeds [astrometry] max_rms_pix={cfg['max_rms_pix']} "
            f"({max_rms:.3f} arcsec); the frame keeps no new WCS")


def write_solution(ctx, wcs):
    """Put ``wcs`` into the working header and rewrite the working copy."""
    ctx.header = wcsfit.replace_wcs(ctx.header, wcs)
    data = fits.getdata(ctx.image_path)
    write_fits_atomic(ctx.image_path, data, ctx.header)
    ctx.wcs = wcs
