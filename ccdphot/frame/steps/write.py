"""``write`` step: sky positions, the frame's description in meta, the unified table products.

Runs last, also after a failed step, so whatever the frame reached is kept.
The table's meta is the contract multi-frame features read
(:data:`ccdphot.products.PHOTOMETRY_SCHEMA`, documented in docs/products.rst).
"""

import logging

from ccdphot import __version__
from ccdphot.frame.qc_plots import write_qc_plots
from ccdphot.frame.table import sky_positions, write_photometry
from ccdphot.products import PHOTOMETRY_SCHEMA

log = logging.getLogger(__name__)

# Header keywords reported in the QC figures, with unit-carrying names.
_HEADER_QC = (("exptime_s", "EXPTIME"), ("filter", "FILTER"), ("airmass", "AIRMASS"),
              ("date_obs_utc", "DATE-OBS"), ("object", "OBJECT"))
# meta key -> standard header keyword (see ccdphot.header.standard)
_META_FROM_HEADER = (
    ("JD_UTC_MID", "JD"), ("MJD_UTC_MID", "MJD"), ("HJD_UTC_MID", "HJD"),
    ("BJD_TDB_MID", "BJD_TDB"), ("DATE_OBS_UTC", "DATE-OBS"), ("EXPTIME_S", "EXPTIME"),
    ("FILTER", "FILTER"), ("AIRMASS", "AIRMASS"), ("OBJECT", "OBJECT"),
    ("TELESCOP", "TELESCOP"), ("INSTRUME", "INSTRUME"), ("OBSERVAT", "OBSERVAT"),
    ("RA_DEG", "RA"), ("DEC_DEG", "DEC"), ("GAIN_E_PER_ADU", "GAIN"),
    ("SATURATE_ADU", "SATURATE"), ("PIXSCALE_ARCSEC", "PIXSCALE"),
)
# meta key -> QC figure of a step
_META_FROM_QC = (
    ("SEEING_FWHM_PIX", "seeing_fwhm_pix"), ("SEEING_FWHM_ARCSEC", "seeing_fwhm_arcsec"),
    ("BACKGROUND_ADU", "background_adu"), ("BACKGROUND_RMS_ADU", "background_rms_adu"),
    ("CROWDING_INDEX", "crowding_index"), ("CROWDED", "crowded"),
    ("CROWDED_DETECTION", "crowded_detection"), ("PSF_PASSES", "psf_passes"),
    ("JD_UTC_MID", "jd_utc_mid"), ("BJD_TDB_MID", "bjd_tdb_mid"),  # full precision
    ("WCS_REFINED", "wcs_refined"), ("ZP_MAG", "zp_mag"), ("ZP_ERR_MAG", "zp_error_mag"),
    ("ZP_BAND", "zp_band"), ("ZP_CATALOG", "zp_catalog"),
    ("ZP_SYSTEM", "zp_system"), ("ZP_TRANSFORMATION", "zp_transformation"),
    ("ZP_COLOUR", "zp_colour"), ("ZP_COLOUR_TERM_MAG", "zp_colour_term"),
    ("ZP_COLOUR_TERM_ERR_MAG", "zp_colour_term_error"),
    ("ZP_SCATTER_INTRINSIC_MAG", "zp_intrinsic_scatter_mag"), ("ZP_N_STARS", "zp_n_stars"),
    ("ZP_LIMIT_5SIGMA_MAG", "zp_limit_5sigma_mag"), ("ZP_QUALITY", "zp_quality"),
)


def frame_meta(ctx):
    """The frame's description for the table meta: schema, times, exposure, conditions.

    Keys with no value for this frame are left out (a reader treats a missing
    key as unknown).
    """
    meta = {"CCDPHOT_SCHEMA": PHOTOMETRY_SCHEMA, "CCDPHOT_VERSION": __version__,
            "FRAME": ctx.stem, "INPUT": ctx.input_path.name}
    if ctx.shape is not None:
        meta["NAXIS2"], meta["NAXIS1"] = (int(n) for n in ctx.shape)
    meta["HAS_WCS"] = ctx.wcs is not None
    if ctx.header is not None:
        for key, keyword in _META_FROM_HEADER:
            value = ctx.header_value(keyword)
            if value is not None:
                meta[key] = value
    for key, name in _META_FROM_QC:
        if ctx.qc.get(name) is not None:
            meta[key] = ctx.qc[name]
    return meta


def run(ctx):
    for name, key in _HEADER_QC:
        value = ctx.header_value(key) if ctx.header is not None else None
        if value is not None and name not in ctx.qc:
            ctx.qc[name] = value
    if ctx.table is None:
        log.info("no photometry table to write (the frame stopped before detection)")
        return {"rows": 0}
    if ctx.wcs is not None:
        sky_positions(ctx.table, ctx.wcs)
    ctx.table.meta.update(frame_meta(ctx))
    ctx.table.meta["qc"] = dict(ctx.qc)
    write_photometry(ctx.out_dir, ctx.table)
    return {"rows": len(ctx.table),
            "with_sky_position": int((~ctx.table["ALPHA_J2000"].mask).sum()),
            **write_qc_plots(ctx)}
