"""``zeropoint`` step: calibrate instrumental magnitudes against a reference catalogue.

The unified table's sky positions (ALPHA_J2000/DELTA_J2000, from the
astrometry step or a usable header WCS) are matched to the reference stars in
the catalogue band of the frame's FILTER; the zero point is the
inverse-variance weighted mean of ``catalogue - instrumental`` after sigma
clipping (optionally with a colour term). MAG_CAL = instrumental + zero point
(+ colour term), on the catalogue band's system. Without a WCS or without any
catalogue at hand (offline, nothing cached) the step is skipped with a
warning: the figures say ``applied: False`` and why, and MAG_CAL stays masked.
"""

import logging

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord

from ccdphot.catalogs import error_name, frame_epoch, frame_region, get_reference
from ccdphot.errors import CatalogError, ConfigError
from ccdphot.frame.table import add_calibrated_columns, sky_positions
from ccdphot.products import write_table_atomic
from ccdphot.zeropoint.residuals import ZEROPOINT_STARS, zeropoint_star_table

log = logging.getLogger(__name__)

# FILTER value -> catalogue bands, first available wins. A Cousins I or R frame
# falls back to Sloan i or r (APASS, URAT-1): the zero point then absorbs the
# mean I-i (R-r) offset and MAG_CAL is on the Sloan band's system (see qc zp_band).
# Unfiltered frames are calibrated against Gaia G, a rough match to a bare CCD.
FILTER_BANDS = {
    "U": ("U",), "B": ("B",), "V": ("V",), "R": ("R", "r"), "I": ("I", "i"),
    "Rc": ("R", "r"), "Ic": ("I", "i"), "R_C": ("R", "r"), "I_C": ("I", "i"),
    "u": ("u",), "g": ("g",), "r": ("r",), "i": ("i",), "z": ("z",),
    "u'": ("u",), "g'": ("g",), "r'": ("r",), "i'": ("i",), "z'": ("z",),
    "sdss_u": ("u",), "sdss_g": ("g",), "sdss_r": ("r",), "sdss_i": ("i",), "sdss_z": ("z",),
    "G": ("G",), "BP": ("BP",), "RP": ("RP",), "J": ("J",), "H": ("H",), "K": ("K",),
    "Ks": ("K",), "clear": ("G",), "c": ("G",), "none": ("G",), "open": ("G",),
    "l": ("G",), "lum": ("G",), "luminance": ("G",),
}
INSTRUMENTAL = ("MAG_PSF", "MAG_APER", "MAG_AUTO")


def filter_bands(filter_value, overrides):
    """Catalogue bands for a FILTER header value (``overrides``: [zeropoint.filter_bands])."""
    if filter_value is None:
        raise ConfigError("FILTER is unknown: add it to the telescope profile "
                          "([values] FILTER = ...) or give --set FILTER=VALUE "
                          "(\"clear\" for an unfiltered camera)")
    name = str(filter_value).strip()
    for table in (overrides, FILTER_BANDS):
        if name in table:
            value = table[name]
            return (value,) if isinstance(value, str) else tuple(value)
    if len(name) > 1:  # case-insensitive only where it cannot confuse I with i
        folded = {key.casefold(): key for key in FILTER_BANDS if len(key) > 1}
        if name.casefold() in folded:
            return FILTER_BANDS[folded[name.casefold()]]
    raise ConfigError(f"FILTER={name!r} is not a known passband; map it to a catalogue band "
                      f"in [zeropoint.filter_bands], e.g. \"{name}\" = \"V\"")


def _instrumental_column(table, choice):
    if choice != "best":
        if choice not in INSTRUMENTAL:
            raise ConfigError(f"[zeropoint] magnitude = {choice!r}; use best, "
                              f"{', '.join(INSTRUMENTAL)}")
        return choice
    for name in INSTRUMENTAL:
        if name in table.colnames and (~np.ma.getmaskarray(table[name])).any():
            return name
    return None


def _skip(ctx, reason):
    log.warning("zero point skipped: %s; MAG_CAL stays empty", reason)
    add_calibrated_columns(ctx.table)
    ctx.qc.update(zp_applied=False, zp_skipped_reason=reason)
    ctx.details["zeropoint"] = {"applied": False, "reason": reason}
    return {"applied": False, "reason": reason}


def _parse_colour(text):
    if not text:
        return None
    parts = text.split("-")
    if len(parts) != 2 or not all(parts):
        raise ConfigError(f"[zeropoint] colour = {text!r}; give two bands like \"B-V\"")
    return tuple(p.strip() for p in parts)


def fit_zero_point(delta, error, colour=None, clip_sigma=3.0, iterations=5):
    """Weighted zero point of ``delta`` (catalogue - instrumental) with sigma clipping.

    With ``colour``, fits delta = zp + k * colour. Returns a dict with zp,
    its error, k (None without colour), the robust scatter and the kept mask.
    """
    weights = 1.0 / np.maximum(error, 1e-3) ** 2
    kept = np.ones(len(delta), bool)
    for iteration in range(iterations + 1):
        design = np.ones((kept.sum(), 1)) if colour is None else \
            np.column_stack([np.ones(kept.sum()), colour[kept]])
        w = np.sqrt(weights[kept])
        coef, *_ = np.linalg.lstsq(design * w[:, None], delta[kept] * w, rcond=None)
        residual = delta - (coef[0] + (0.0 if colour is None else coef[1] * colour))
        if iteration == iterations:
            break
        # robust sigma (MAD) of the kept residuals, widened by each star's own error
        sigma = max(1.4826 * np.median(np.abs(residual[kept] - np.median(residual[kept]))), 1e-4)
        new_kept = np.abs(residual) <= clip_sigma * np.sqrt(sigma ** 2 + error ** 2)
        if new_kept.sum() < 2 or np.array_equal(new_kept, kept):
            break
        kept = new_kept
    zp_error = float(np.sqrt(1.0 / weights[kept].sum()))
    scatter = float(np.std(residual[kept], ddof=1)) if kept.sum() > 1 else float("nan")
    zp_error = max(zp_error, scatter / np.sqrt(kept.sum())) if kept.sum() > 1 else zp_error
    return {"zp": float(coef[0]), "zp_error": zp_error,
            "k": None if colour is None else float(coef[1]), "scatter": scatter, "kept": kept}


def run(ctx):
    settings = ctx.config["zeropoint"]
    table = ctx.table
    if ctx.wcs is None:
        return _skip(ctx, "the frame has no WCS, so no sky positions to match")
    sky_positions(table, ctx.wcs)
    column = _instrumental_column(table, settings["magnitude"])
    if column is None:
        return _skip(ctx, "no instrumental magnitude in the table")
    colour = _parse_colour(settings["colour"])
    try:
        bands = filter_bands(ctx.header_value("FILTER"), settings["filter_bands"])
    except ConfigError as err:  # a narrow-band or exotic filter: no calibration, no failure
        return _skip(ctx, str(err))
    center, radius = frame_region(ctx.wcs, ctx.shape)
    refcat = ctx.options.get("refcat")
    try:
        reference = get_reference(center, radius, catalogs=settings["catalogs"],
                                  epoch=frame_epoch(ctx.header), config=ctx.config,
                                  refcat=refcat, bands=bands)
    except CatalogError as err:
        return _skip(ctx, f"no reference catalogue: {err}")
    band = next((b for b in bands if b in reference.colnames), None)
    if band is None:
        return _skip(ctx, f"reference {reference.meta['catalog']} has none of the bands "
                          f"{', '.join(bands)} for FILTER={ctx.header_value('FILTER')!r}")
    result = _calibrate(ctx, table, column, reference, band, colour, settings)
    if isinstance(result, str):
        return _skip(ctx, result)
    return result


def _calibrate(ctx, table, column, reference, band, colour, settings):
    has_pos = ~np.ma.getmaskarray(table["ALPHA_J2000"])
    rows = np.flatnonzero(has_pos)
    stars = SkyCoord(np.asarray(table["ALPHA_J2000"][rows], float) * u.deg,
                     np.asarray(table["DELTA_J2000"][rows], float) * u.deg)
    refs = SkyCoord(np.asarray(reference["ra"], float) * u.deg,
                    np.asarray(reference["dec"], float) * u.deg)
    index, separation, _ = stars.match_to_catalog_sky(refs)
    radius_arcsec = max(settings["match_radius_arcsec"],
                        settings["match_radius_pix"] * (ctx.pixel_scale_arcsec() or 0.0))
    matched = separation <= radius_arcsec * u.arcsec
    rows, index = rows[matched], index[matched]
    inst = np.ma.filled(table[column][rows].astype(float), np.nan)
    inst_err = np.ma.filled(table[f"MAGERR{column[3:]}"][rows].astype(float), np.nan)
    ref_mag = np.ma.filled(reference[band][index].astype(float), np.nan)
    ref_err = np.ma.filled(reference[error_name(band)][index].astype(float), 0.0)
    good = np.isfinite(inst) & np.isfinite(inst_err) & np.isfinite(ref_mag)
    good &= (inst_err <= settings["max_error_mag"]) & (ref_err <= settings["max_error_mag"])
    if "FLAGS" in table.colnames:
        good &= np.ma.filled(table["FLAGS"][rows], 0) <= settings["max_flags"]
    star_colour = None
    if colour is not None:
        missing = [b for b in colour if b not in reference.colnames]
        if missing:
            return f"colour {'-'.join(colour)} needs band(s) {', '.join(missing)} that " \
                   f"{reference.meta['catalog']} lacks"
        star_colour = (np.ma.filled(reference[colour[0]][index].astype(float), np.nan)
                       - np.ma.filled(reference[colour[1]][index].astype(float), np.nan))
        good &= np.isfinite(star_colour)
    n_good = int(good.sum())
    if n_good < settings["min_stars"]:
        return (f"only {n_good} usable stars matched {reference.meta['catalog']} {band} within "
                f"{radius_arcsec:.2f} arcsec (min_stars = {settings['min_stars']})")
    delta = ref_mag[good] - inst[good]
    error = np.hypot(inst_err[good], ref_err[good])
    fit = fit_zero_point(delta, error, None if star_colour is None else star_colour[good],
                         settings["clip_sigma"], settings["clip_iterations"])
    _fill_calibrated(table, column, fit, star_colour, rows, good)
    write_table_atomic(zeropoint_star_table(ref_mag[good], delta, fit, None if star_colour is None
                                            else star_colour[good], band),
                       ctx.work_dir / ZEROPOINT_STARS, format="ascii.ecsv")
    n_kept = int(fit["kept"].sum())
    figures = {
        "applied": True,
        "zp_mag": round(fit["zp"], 4),
        "zp_error_mag": round(fit["zp_error"], 4),
        "zp_scatter_mag": round(fit["scatter"], 4),
        "zp_n_stars": n_kept,
        "zp_outlier_fraction": round(1.0 - n_kept / n_good, 3),
        "zp_band": band,
        "zp_catalog": reference.meta["catalog"],
        "zp_instrumental": column,
    }
    if fit["k"] is not None:
        figures.update(zp_colour="-".join(colour), zp_colour_term=round(fit["k"], 4))
    ctx.qc.update({k: v for k, v in figures.items() if k != "applied"}, zp_applied=True)
    ctx.details["zeropoint"] = dict(figures, reference_source=reference.meta.get("source"),
                                    from_cache=bool(reference.meta.get("from_cache")),
                                    n_matched=int(len(rows)), n_usable=n_good)
    table.meta.update(ZP_BAND=band, ZP_CATALOG=reference.meta["catalog"], ZP_MAG=figures["zp_mag"])
    return figures


def _fill_calibrated(table, column, fit, star_colour, rows, good):
    """MAG_CAL/MAGERR_CAL for every star with an instrumental magnitude."""
    add_calibrated_columns(table)
    inst = table[column]
    inst_err = table[f"MAGERR{column[3:]}"]
    has = ~np.ma.getmaskarray(inst)
    offset = np.full(len(table), fit["zp"])
    if fit["k"] is not None:
        # Stars without a catalogue colour get the median colour of the calibration stars.
        colour_all = np.full(len(table), float(np.median(star_colour[good][fit["kept"]])))
        known = np.isfinite(star_colour)
        colour_all[rows[known]] = star_colour[known]
        offset = offset + fit["k"] * colour_all
    values = np.ma.filled(inst.astype(float), np.nan) + offset
    errors = np.hypot(np.ma.filled(inst_err.astype(float), np.nan), fit["zp_error"])
    table["MAG_CAL"][has] = values[has]
    table["MAG_CAL"].mask[has] = False
    ok_err = has & np.isfinite(errors)
    table["MAGERR_CAL"][ok_err] = errors[ok_err]
    table["MAGERR_CAL"].mask[ok_err] = False
