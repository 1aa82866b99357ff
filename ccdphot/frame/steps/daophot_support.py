"""What the DAOPHOT steps (aperture, psf) share for one frame.

The star list they measure (the detection list, or a legacy reduction's star
list with ``--legacy``), the IRAF parameter sets of the frame, and the mapping
between IRAF's photometry IDs (1, 2, ... in coordinate-file order) and the
unified table's NUMBER.

With ``--legacy DIR`` the legacy star list *is* the detection list: the
unified table is rebuilt with one row per legacy star, NUMBER = the legacy
star ID, and the SExtractor columns (MAG_AUTO, FWHM_IMAGE, FLAGS, ...) are
copied from the nearest SExtractor detection within
:data:`LEGACY_MATCH_RADIUS_PIX`. Rows therefore align with the legacy files.
"""

import logging
import math

import numpy as np
from astropy.io import fits
from astropy.table import Table
from photutils.aperture import CircularAperture, aperture_photometry
from scipy.spatial import cKDTree

from ccdphot.daophot.legacy import load_legacy
from ccdphot.daophot.psets import aperture_radii, frame_layer, merge_psets
from ccdphot.errors import InputError
from ccdphot.frame.table import fill_by_number, new_unified
from ccdphot.wrappers import daophot

log = logging.getLogger(__name__)

COORDS_FILE = "daophot_stars.xy"
# ctx.memo key: the aperture step's PHOT table (with NUMBER), which the psf step reuses
APERTURE_PHOT_MEMO = "aperture_phot"
RESIDUAL_PHOT_FILE = "aperture_residual.mag"
MODEL_BLANK = "psf_model_blank.fits"
MODEL_STAR = "psf_model_star.pst"
MODEL_IMAGE = "psf_model_star.fits"
_MAG_PER_LN = 2.5 / math.log(10.0)
LEGACY_MATCH_RADIUS_PIX = 1.0
_SEXTRACTOR_COLUMNS = ("MAG_AUTO", "MAGERR_AUTO", "FWHM_IMAGE", "FLAGS")


def legacy_reduction(ctx):
    """The legacy reduction of ``--legacy DIR`` (``options["legacy_dir"]``), or None.

    Read once per frame (the aperture and psf steps both need it) and kept in
    the frame context, never across frames: another frame may have other files.
    """
    directory = ctx.options.get("legacy_dir")
    if not directory:
        return None
    if "legacy_reduction" not in ctx.memo:
        ctx.memo["legacy_reduction"] = load_legacy(
            str(directory), image_shape=tuple(ctx.shape) if ctx.shape else None,
            sky_adu=ctx.qc.get("background_adu"), sky_sigma_adu=ctx.qc.get("background_rms_adu"))
    return ctx.memo["legacy_reduction"]


def star_list(ctx):
    """The stars to measure: Table NUMBER, X, Y (pix, 1-based), in IRAF ID order.

    In legacy mode the unified table is first rebuilt on the legacy star list.
    """
    legacy = legacy_reduction(ctx)
    if legacy is not None:
        if ctx.table is None or ctx.table.meta.get("ROWS") != "legacy star list":
            adopt_legacy_star_list(ctx, legacy.star_list)
        stars = legacy.star_list
        return Table({"NUMBER": np.asarray(stars["ID"], int),
                      "X": np.asarray(stars["X"], float), "Y": np.asarray(stars["Y"], float)})
    if ctx.detections is None or len(ctx.detections) == 0:
        raise InputError(f"{ctx.input_path.name}: no detection list to measure; "
                         "run the detect step first")
    det = ctx.detections
    return Table({"NUMBER": np.asarray(det["NUMBER"], int),
                  "X": np.asarray(det["X_IMAGE"], float), "Y": np.asarray(det["Y_IMAGE"], float)})


def adopt_legacy_star_list(ctx, legacy_stars):
    """Rebuild the unified table with one row per legacy star (NUMBER = legacy ID)."""
    ids = np.asarray(legacy_stars["ID"], int)
    table = new_unified(ids)
    x = np.asarray(legacy_stars["X"], float)
    y = np.asarray(legacy_stars["Y"], float)
    table["X_IMAGE"][:] = x
    table["Y_IMAGE"][:] = y
    table["X_IMAGE"].mask[:] = False
    table["Y_IMAGE"].mask[:] = False
    n_matched = 0
    if ctx.detections is not None and len(ctx.detections):
        twins = legacy_twins(ctx.detections, ids, x, y)
        fill_by_number(table, twins, {name: name for name in _SEXTRACTOR_COLUMNS})
        n_matched = len(twins)
    table.meta.update(ctx.table.meta if ctx.table is not None else {})
    table.meta["ROWS"] = "legacy star list"
    table.meta.pop("MAG_APER_SOURCE", None)
    ctx.table = table
    ctx.qc["legacy_n_stars"] = len(ids)
    ctx.qc["legacy_n_with_sextractor"] = n_matched
    log.info("legacy mode: %d legacy stars are the detection list (%d matched to a "
             "SExtractor detection within %.1f pix)", len(ids), n_matched,
             LEGACY_MATCH_RADIUS_PIX)


def legacy_twins(detections, legacy_ids, x, y):
    """The SExtractor detection nearest to each legacy star at (x, y), within
    :data:`LEGACY_MATCH_RADIUS_PIX`, renumbered with the legacy star's ID."""
    tree = cKDTree(np.column_stack([detections["X_IMAGE"], detections["Y_IMAGE"]]))
    distance, nearest = tree.query(np.column_stack([x, y]),
                                   distance_upper_bound=LEGACY_MATCH_RADIUS_PIX)
    hit = np.isfinite(distance)
    twins = detections[nearest[hit]]
    twins["NUMBER"] = np.asarray(legacy_ids, int)[hit]
    return twins


def seeing_fwhm_pix(ctx):
    fwhm = ctx.qc.get("seeing_fwhm_pix")
    if fwhm is None or not np.isfinite(fwhm) or fwhm <= 0:
        raise InputError(f"{ctx.input_path.name}: no seeing FWHM measured by the detect step; "
                         "the DAOPHOT steps need it to size their radii")
    return float(fwhm)


def frame_psets(ctx, fwhm_pix, step_layer):
    """The IRAF parameter sets for this frame.

    Layers, lowest first: shipped defaults, the frame (seeing, ``[photometry]
    zero_point_mag``, GAIN, RDNOISE in electrons, SATURATE, background rms,
    header keywords), ``step_layer`` (radii from [aperture]/[psf]), the legacy
    options (``--legacy``), and the user's ``[daophot.<pset>]`` tables.
    """
    frame = frame_layer(
        fwhm_pix, ctx.config["photometry"]["zero_point_mag"],
        gain_e_per_adu=ctx.header_float("GAIN"), readnoise_e=ctx.header_float("RDNOISE"),
        saturate_adu=ctx.header_float("SATURATE"), sky_sigma_adu=ctx.qc.get("background_rms_adu"),
        header_keys=[key for key in ("AIRMASS", "FILTER", "DATE-OBS")
                     if ctx.header_value(key) is not None])
    legacy = legacy_reduction(ctx)
    user = {pset: dict(values) for pset, values in ctx.config["daophot"].items()}
    return merge_psets(frame, step_layer, legacy.iraf_params if legacy else None, user)


def task_params(ctx):
    """Per-task parameter overrides {task: {pset: {param: value}}} (legacy mode only)."""
    legacy = legacy_reduction(ctx)
    return legacy.task_params if legacy is not None else {}


def coords_file(ctx, stars):
    """Write the PHOT coordinate file of ``stars`` into the work directory; its name there."""
    daophot.write_coords(ctx.work_dir / COORDS_FILE, stars["X"], stars["Y"])
    return COORDS_FILE


def with_numbers(result, stars):
    """Add NUMBER to an IRAF result table: IRAF ID k is the k-th star of ``stars``."""
    ids = np.asarray(result["ID"], int)
    numbers = np.asarray(stars["NUMBER"], int)
    if len(ids) and (ids.min() < 1 or ids.max() > len(numbers)):
        raise InputError(f"IRAF {result.meta.get('iraf_task', 'DAOPHOT')} output has IDs "
                         f"outside 1..{len(numbers)}: it does not belong to this star list")
    result["NUMBER"] = numbers[ids - 1]
    return result


def measure_without_neighbours(ctx, tool, psets, stars, psf_model, residual_image, allstar):
    """MAG_APER with every *other* star's ALLSTAR model subtracted first.

    The frame minus all models except star i's is the residual frame plus star
    i's own model, so star i's aperture flux is PHOT's flux on the residual
    frame (its sky measured there too, free of neighbours) plus the flux of its
    model in the aperture: 10**(-0.4 (MAG_PSF - PSFMAG)) times the aperture flux
    of a PSFMAG star's model (SUBSTAR of one such star at the PSF centre from a
    blank frame, i.e. exactly the model ALLSTAR subtracts; summed over the
    exact circle by photutils, which agrees with PHOT's sum to 0.2 %; the PSF
    variability across the frame is neglected here). Stars
    ALLSTAR did not fit are only freed of their neighbours. Errors follow
    PHOT's formula (photon noise of the star, sky noise over the aperture and
    of the sky mean). Returns the number of stars measured.
    """
    model = daophot.read_psf_header(ctx.work_dir / psf_model)
    x_ref, y_ref, psfmag = float(model["x_pix"]), float(model["y_pix"]), float(model["psfmag"])
    fits.writeto(ctx.work_dir / MODEL_BLANK, np.zeros(ctx.shape, np.float32), overwrite=True)
    daophot.write_pst(ctx.work_dir / MODEL_STAR, [1], [x_ref], [y_ref], [psfmag], [0.0])
    calls = [daophot.substar_call(MODEL_BLANK, MODEL_STAR, "", psf_model, MODEL_IMAGE),
             daophot.phot_call(residual_image, COORDS_FILE, RESIDUAL_PHOT_FILE)]
    done = daophot.Job(tool, ctx.work_dir, name="aperture_neighbours", psets=psets,
                       calls=tuple(calls), expect=(MODEL_IMAGE, RESIDUAL_PHOT_FILE),
                       catalog=RESIDUAL_PHOT_FILE).run()
    residual = with_numbers(done.table, stars)
    radius = aperture_radii(psets)[0]
    # SUBSTAR subtracted the model from zeros: the model is minus that image
    psf_aperture_flux = -float(aperture_photometry(
        fits.getdata(ctx.work_dir / MODEL_IMAGE).astype(float),
        CircularAperture((x_ref - 1.0, y_ref - 1.0), radius), method="exact")["aperture_sum"][0])
    for name in (MODEL_BLANK, MODEL_IMAGE):  # two frame-sized images of no further use
        (ctx.work_dir / name).unlink()

    def first(table, name):
        column = table[f"{name}1"] if f"{name}1" in table.colnames else table[name]
        return np.ma.filled(np.ma.asarray(column, dtype=float), np.nan)

    mag_psf = {int(n): float(m) for n, m in zip(allstar["NUMBER"], first(allstar, "MAG"))}
    own_mag = np.array([mag_psf.get(int(n), np.nan) for n in residual["NUMBER"]])
    own = np.where(np.isfinite(own_mag), psf_aperture_flux * 10 ** (-0.4 * (own_mag - psfmag)), 0)
    flux = first(residual, "FLUX") + own
    area = first(residual, "AREA")
    sky_sigma = np.ma.filled(np.ma.asarray(residual["SKY_SIGMA"], dtype=float), np.nan)
    n_sky = np.ma.filled(np.ma.asarray(residual["NSKY"], dtype=float), np.nan)
    epadu = float(psets["datapars"]["epadu"])
    with np.errstate(invalid="ignore", divide="ignore"):
        variance = flux / epadu + area * sky_sigma ** 2 + area ** 2 * sky_sigma ** 2 / n_sky
        good = (flux > 0) & np.isfinite(variance)
        mag = np.where(good, float(psets["photpars"]["zmag"]) - 2.5 * np.log10(flux), np.nan)
        err = np.where(good, _MAG_PER_LN * np.sqrt(variance) / flux, np.nan)
    result = Table({"NUMBER": residual["NUMBER"], "MAG": mag, "MERR": err})
    n_measured = fill_by_number(ctx.table, result, {"MAG_APER": "MAG", "MAGERR_APER": "MERR"})
    ctx.table.meta["MAG_APER_SOURCE"] = (
        f"DAOPHOT PHOT (IRAF), radius {radius:g} pix, on the frame with the ALLSTAR models of "
        "all other stars subtracted")
    n_good = int(good.sum())
    log.info("neighbour-subtracted aperture photometry: %d of %d stars (PSF aperture "
             "flux %.1f ADU at PSFMAG %.3f)", n_good, n_measured, psf_aperture_flux, psfmag)
    return n_good
