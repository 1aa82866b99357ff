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

import functools
import logging

import numpy as np
from astropy.table import Table
from scipy.spatial import cKDTree

from .errors import InputError
from .legacy import load_legacy
from .table import fill_by_number, new_unified
from .wrappers import daophot

log = logging.getLogger(__name__)

COORDS_FILE = "daophot_stars.xy"
LEGACY_MATCH_RADIUS_PIX = 1.0
_SEXTRACTOR_COLUMNS = ("MAG_AUTO", "MAGERR_AUTO", "FWHM_IMAGE", "FLAGS")


def legacy_reduction(ctx):
    """The legacy reduction of ``--legacy DIR`` (``options["legacy_dir"]``), or None."""
    directory = ctx.options.get("legacy_dir")
    if not directory:
        return None
    return _load_legacy(str(directory), tuple(ctx.shape) if ctx.shape else None,
                        ctx.qc.get("background_adu"), ctx.qc.get("background_rms_adu"))


@functools.lru_cache(maxsize=2)
def _load_legacy(directory, shape, sky_adu, sky_sigma_adu):
    return load_legacy(directory, image_shape=shape, sky_adu=sky_adu, sky_sigma_adu=sky_sigma_adu)


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

    Layers, lowest first: shipped defaults, the frame (seeing, GAIN, RDNOISE in
    electrons, SATURATE, background rms, header keywords), ``step_layer`` (radii
    from [aperture]/[psf]), the legacy options (``--legacy``), and the user's
    ``[daophot.<pset>]`` tables.
    """
    frame = daophot.frame_psets(
        fwhm_pix, gain_e_per_adu=ctx.header_float("GAIN"),
        readnoise_e=ctx.header_float("RDNOISE"), saturate_adu=ctx.header_float("SATURATE"),
        sky_sigma_adu=ctx.qc.get("background_rms_adu"),
        header_keys=[key for key in ("AIRMASS", "FILTER", "DATE-OBS")
                     if ctx.header_value(key) is not None])
    legacy = legacy_reduction(ctx)
    user = {pset: dict(values) for pset, values in ctx.config["daophot"].items()}
    return daophot.merge_psets(frame, step_layer, legacy.iraf_params if legacy else None, user)


def task_params(ctx):
    """Per-task parameter overrides {task: {pset: {param: value}}} (legacy mode only)."""
    legacy = legacy_reduction(ctx)
    return legacy.task_params if legacy is not None else {}


def write_coords(ctx, stars):
    """The PHOT coordinate file of ``stars`` in the work directory (name relative)."""
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
