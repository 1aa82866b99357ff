"""``zeropoint`` step: standard photometry of the frame, and the target's point.

Takes from the context the unified table (sky positions from the WCS), the
standard band of the FILTER, the reference stars (``--refcat`` or the
``[zeropoint] catalogs``), the astrometric RMS and a fixed colour term (config
or telescope profile), and hands them to :func:`ccdphot.zeropoint.calibration.calibrate`.
It writes MAG_CAL, MAGERR_CAL and FLAGS_CAL, the figures (qc ``zp_*``,
run.json details with the transformation's reference and validity), the QC
plot ``zeropoint.png`` and, when a target is given, ``target.json`` and
``target.ecsv``. A frame that cannot be calibrated (no WCS, no catalogue, no
band, no overlap, too few stars) skips the step with the reason; the target
record then says it is not calibrated.
"""

import json
import logging

import numpy as np

from ccdphot.catalogs import frame_epoch, frame_region, get_reference
from ccdphot.errors import CatalogError, ConfigError, ZeroPointError
from ccdphot.frame.table import add_calibrated_columns, sky_positions
from ccdphot.header.profiles import frame_profile
from ccdphot.products import write_table_atomic, write_text_atomic
from ccdphot.zeropoint import bands, transforms
from ccdphot.zeropoint.calibration import calibrate
from ccdphot.plots.zeropoint import ZEROPOINT_PNG, plot_zero_point
from ccdphot.zeropoint.target import (
    TARGET_ECSV,
    TARGET_JSON,
    exposure_record,
    measure_target,
    resolve_target,
    target_table,
)

log = logging.getLogger(__name__)

INSTRUMENTAL = ("MAG_PSF", "MAG_APER", "MAG_AUTO")
_TIME_KEYS = ("JD", "EXPTIME", "SITELAT", "SITELONG", "SITEELEV")


def run(ctx):
    settings = ctx.config["zeropoint"]
    target = resolve_target(ctx.config["target"], ctx.options.get("target"),
                            ctx.header_value("OBJECT"))
    if ctx.wcs is None:
        return _skip(ctx, "the frame has no WCS, so no sky positions to match", target)
    table = ctx.table
    sky_positions(table, ctx.wcs)
    column = _instrumental_column(table, settings["magnitude"])
    if column is None:
        return _skip(ctx, "no instrumental magnitude in the table", target)
    try:
        band = bands.standard_band(ctx.header_value("FILTER"), settings["filter_bands"])
    except ConfigError as err:  # a narrow-band or exotic filter: no calibration, no failure
        return _skip(ctx, str(err), target)
    candidates = transforms.preference(settings["transformations"])
    wanted = (band,) + tuple(b for t in candidates if t.target == band for b in t.inputs)
    center, radius = frame_region(ctx.wcs, ctx.shape)
    try:
        reference = get_reference(center, radius, catalogs=settings["catalogs"],
                                  epoch=frame_epoch(ctx.header), config=ctx.config,
                                  refcat=ctx.options.get("refcat"), bands=wanted)
        result = calibrate(table, column, reference, band, settings,
                           ctx.pixel_scale_arcsec(), _astrometric_rms(ctx),
                           _fixed_colour_term(ctx, band))
    except CatalogError as err:
        return _skip(ctx, f"no reference catalogue: {err}", target)
    except ZeroPointError as err:
        return _skip(ctx, str(err), target)
    _fill(table, result)
    figures = result.figures
    if figures["zp_quality"] != "good":
        log.warning("zero point is POOR: %s", "; ".join(figures["zp_quality_reasons"]))
    plot_zero_point(ctx.out_dir / ZEROPOINT_PNG, result.stars, figures)
    ctx.qc.update(figures, zp_applied=True)
    ctx.details["zeropoint"] = dict(
        figures, applied=True, reference_source=reference.meta.get("source"),
        from_cache=bool(reference.meta.get("from_cache")),
        transformation=None if result.transformation is None
        else result.transformation.describe(), plot=ZEROPOINT_PNG)
    if target is not None:
        _write_target(ctx, target, figures)
    return {"applied": True, **{k: figures[k] for k in (
        "zp_mag", "zp_error_mag", "zp_band", "zp_colour", "zp_colour_term", "zp_n_stars",
        "zp_scatter_mag", "zp_outlier_fraction", "zp_limit_5sigma_mag", "zp_quality")}}


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


def _astrometric_rms(ctx):
    """Total astrometric RMS (arcsec) of a refined WCS, else None."""
    ra, dec = ctx.qc.get("astrometry_rms_ra_arcsec"), ctx.qc.get("astrometry_rms_dec_arcsec")
    if not ctx.qc.get("wcs_refined") or ra is None or dec is None:
        return None
    return float(np.hypot(ra, dec))


def _fixed_colour_term(ctx, band):
    """A fixed colour term for ``band``: [zeropoint.colour_terms], else the profile's."""
    configured = ctx.config["zeropoint"]["colour_terms"]
    if band in configured:
        return float(configured[band])
    choice = ctx.options.get("profile") or ctx.config["header"]["profile"]
    profile = frame_profile(ctx.header, choice)
    terms = profile.zeropoint.get("colour_terms", {}) if profile is not None else {}
    return float(terms[band]) if band in terms else None


def _fill(table, result):
    add_calibrated_columns(table)
    has = np.isfinite(result.mag_cal)
    table["MAG_CAL"][has] = result.mag_cal[has]
    table["MAG_CAL"].mask[has] = False
    has_err = has & np.isfinite(result.magerr_cal)
    table["MAGERR_CAL"][has_err] = result.magerr_cal[has_err]
    table["MAGERR_CAL"].mask[has_err] = False
    table["FLAGS_CAL"][has] = result.flags[has]
    table["FLAGS_CAL"].mask[has] = False


def _skip(ctx, reason, target):
    log.warning("zero point skipped: %s; MAG_CAL stays empty", reason)
    if ctx.table is not None:
        add_calibrated_columns(ctx.table)
    ctx.qc.update(zp_applied=False, zp_skipped_reason=reason)
    ctx.details["zeropoint"] = {"applied": False, "reason": reason}
    if target is not None:
        _write_target(ctx, target, {"zp_applied": False, "zp_skipped_reason": reason})
    return {"applied": False, "reason": reason}


def _write_target(ctx, target, figures):
    """target.json and the one-row target.ecsv: the calibrated point or the upper limit."""
    name, coord, source = target
    record = {"target": name, "target_from": source, "frame": ctx.stem}
    if figures.get("zp_applied", True) and ctx.table is not None:
        radius = ctx.config["target"]["match_radius_arcsec"] or figures["zp_match_radius_arcsec"]
        record.update(measure_target(ctx.table, coord, radius, figures["zp_limit_5sigma_mag"]))
        record.update(band=figures["zp_band"], system=figures["zp_system"], calibrated=True)
    else:
        record.update(ra_deg=round(coord.ra.deg, 7), dec_deg=round(coord.dec.deg, 7),
                      calibrated=False, detected=None, is_upper_limit=False, mag_cal=None,
                      magerr_cal=None, band=None, system=None)
    record.update(exposure_record({k: ctx.header_value(k) for k in _TIME_KEYS}, coord))
    record.update({k: v for k, v in figures.items() if k.startswith("zp_")})
    write_text_atomic(ctx.out_dir / TARGET_JSON, json.dumps(record, indent=2) + "\n")
    write_table_atomic(target_table(record), ctx.out_dir / TARGET_ECSV, format="ascii.ecsv")
    ctx.details["target"] = record
    log.info("target %s: %s", name, "upper limit" if record.get("is_upper_limit") else
             f"{record.get('mag_cal')} +- {record.get('magerr_cal')} mag"
             if record.get("detected") else "not calibrated")
