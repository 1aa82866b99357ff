"""``psf`` step: DAOPHOT PSF + ALLSTAR (IRAF, through PyRAF) on the detection list.

1. PHOT of every star (the aperture step's file is reused when it ran).
2. PSF stars: chosen automatically (:func:`~ccdphot.daophot.psfstars.select_psf_stars`),
   from ``[psf] stars_file`` or, with ``--legacy``, the legacy PSF-star list.
3. PSF iterations (:func:`ccdphot.daophot.psf_iterations.fit_psf`): PSF on the
   frame; then NSTAR of the PSF stars and their neighbours, SUBSTAR of the
   neighbours and PSF again on that cleaned frame, at most ``[psf]
   iterations`` times, stopping once the model changes by less than ``[psf]
   convergence_tolerance`` of its peak. With ``function = "auto"`` the
   function with the fewest parameters among those that fit within ``[psf]
   function_tolerance`` of the best is taken.
4. ALLSTAR fits every star with the last PSF and writes the residual image.
5. Residual passes (:mod:`ccdphot.daophot.second_pass`; ``[psf] passes``,
   "auto" = 2 on a frame the detect step found crowded, else 1): stars found
   in the residual image are added (new rows, DETECTION_PASS > 1) and ALLSTAR
   fits the complete list again; the last pass's residual remains.

Products in ``work/``: ``psf_model.fits`` (the last iteration's IRAF PSF
image), ``psf_stars.pst`` (the PSF stars given), ``allstar.als``,
``residual.fits``, and per iteration k ``psf_iter<k>.fits/.log/.pst/.psg``,
``psf_iter<k>_seen*.fits`` (the model as images), and the NSTAR fit
``psf_iter<k>.nst`` and cleaned frame ``cleaned_iter<k>.fits`` it leads to.
Fills X_PSF, Y_PSF, MAG_PSF, MAGERR_PSF, CHI, SHARP by NUMBER. With
``--legacy DIR`` the result is also compared with the legacy ALLSTAR file.
"""

import logging
import shutil

import numpy as np

from ccdphot.daophot.legacy_comparison import compare_to_legacy
from ccdphot.daophot.psets import aperture_layer, psf_layer
from ccdphot.daophot.psf_iterations import fit_psf
from ccdphot.daophot.psfstars import psf_numbers_from_list, select_psf_stars
from ccdphot.daophot.second_pass import number_of_passes, run_passes, saturated_stars
from ccdphot.errors import InputError
from ccdphot.frame.steps.daophot_support import (
    APERTURE_PHOT_MEMO,
    coords_file,
    frame_psets,
    legacy_reduction,
    legacy_twins,
    measure_without_neighbours,
    seeing_fwhm_pix,
    star_list,
    task_params,
    with_numbers,
)
from ccdphot.frame.table import fill_by_number, with_rows_found_by_pass
from ccdphot.plots.legacy_comparison import plot_legacy_comparison
from ccdphot.products import write_table_atomic
from ccdphot.wrappers import daophot

log = logging.getLogger(__name__)

PHOT_FILE = "psf.mag"
PSF_STARS_FILE = "psf_stars.pst"
PSF_MODEL = "psf_model.fits"
ALLSTAR_FILE = "allstar.als"
ALLSTAR_REJECTS = "allstar.arj"
RESIDUAL_IMAGE = "residual.fits"
LEGACY_TABLE = "legacy_comparison.ecsv"
LEGACY_PLOT = "legacy_comparison.png"
LEGACY_MATCH_PIX = 0.5
MAX_ITERATIONS = 4
# IRAF PSF needs at least this many stars for a look-up table of variability order k.
_STARS_FOR_VARORDER = {-1: 1, 0: 1, 1: 3, 2: 6}
_UNIFIED_FROM_ALLSTAR = {"X_PSF": "X", "Y_PSF": "Y", "MAG_PSF": "MAG", "MAGERR_PSF": "MERR",
                         "CHI": "CHI", "SHARP": "SHARP"}


def _phot(ctx, tool, psets, stars):
    """The PHOT table of ``stars``: the aperture step's when it measured the same list."""
    previous = ctx.details.get("aperture", {})
    if APERTURE_PHOT_MEMO in ctx.memo and previous.get("n_stars") == len(stars) \
            and (ctx.work_dir / previous["photfile"]).is_file():
        return ctx.memo[APERTURE_PHOT_MEMO], previous["photfile"], 0.0
    coords = coords_file(ctx, stars)
    done = daophot.Job(tool, ctx.work_dir, name="psf_phot", psets=psets,
                       calls=(daophot.phot_call(ctx.image_name, coords, PHOT_FILE),),
                       expect=(PHOT_FILE,), catalog=PHOT_FILE).run()
    return with_numbers(done.table, stars), PHOT_FILE, done.run.seconds


def _psf_numbers(ctx, phot, psets, fwhm):
    legacy = legacy_reduction(ctx)
    if legacy is not None and legacy.psf_stars is not None and len(legacy.psf_stars):
        log.info("PSF stars: the %d stars of the legacy PSF-star list", len(legacy.psf_stars))
        return np.asarray(legacy.psf_stars["ID"], int), "legacy list"
    if ctx.config["psf"]["stars_file"] and legacy is None:
        return psf_numbers_from_list(ctx.config["psf"]["stars_file"], ctx.detections), "list"
    detections = ctx.detections
    if legacy is not None:  # rows are legacy stars: select among their SExtractor twins
        table = ctx.table
        detections = legacy_twins(ctx.detections, table["NUMBER"], table["X_IMAGE"],
                                  table["Y_IMAGE"])
    numbers = select_psf_stars(detections, phot, float(psets["daopars"]["psfrad"]), ctx.shape,
                               ctx.config["psf"], fwhm,
                               saturate_adu=ctx.header_float("SATURATE"))
    return numbers, "automatic"


def _write_pst(ctx, phot, numbers):
    row = {int(n): i for i, n in enumerate(phot["NUMBER"])}
    rows = [row[int(n)] for n in numbers if int(n) in row]
    rows = [i for i in rows if not np.ma.getmaskarray(phot["MAG"])[i]]
    chosen = phot[rows]
    daophot.write_pst(ctx.work_dir / PSF_STARS_FILE, chosen["ID"], np.ma.getdata(chosen["X"]),
                      np.ma.getdata(chosen["Y"]), np.ma.getdata(chosen["MAG"]),
                      np.ma.filled(chosen["SKY"], 0.0))
    return len(rows)


def run(ctx):
    fwhm = seeing_fwhm_pix(ctx)
    config = ctx.config["psf"]
    iterations = int(config["iterations"])
    if not 1 <= iterations <= MAX_ITERATIONS:
        raise InputError(f"[psf] iterations = {iterations}: use 1 to {MAX_ITERATIONS}")
    n_passes = number_of_passes(config["passes"], bool(ctx.qc.get("crowded")))
    stars = star_list(ctx)
    layer = aperture_layer(ctx.config["aperture"], fwhm)
    layer.update(psf_layer(config, fwhm))
    psets = frame_psets(ctx, fwhm, layer)
    tool = ctx.tools.use("iraf")
    phot, photfile, phot_seconds = _phot(ctx, tool, psets, stars)

    numbers, how = _psf_numbers(ctx, phot, psets, fwhm)
    n_psf = _write_pst(ctx, phot, numbers)
    if n_psf < config["min_stars"]:
        raise InputError(
            f"{ctx.input_path.name}: only {n_psf} usable PSF stars ({how} selection among "
            f"{len(stars)} stars; [psf] min_stars = {config['min_stars']}): too few bright, "
            "unsaturated, isolated stars; relax [psf] fwhm_tolerance/isolation_delta_mag or "
            "lower min_stars")
    varorder = int(psets["daopars"]["varorder"])
    while n_psf < _STARS_FOR_VARORDER.get(varorder, 1):
        log.warning("%d PSF stars are too few for varorder %d; using %d", n_psf, varorder,
                    varorder - 1)
        varorder -= 1
    psets["daopars"]["varorder"] = varorder

    def allstar(psf_image):
        return ([daophot.allstar_call(ctx.image_name, photfile, psf_image, ALLSTAR_FILE,
                                      ALLSTAR_REJECTS, RESIDUAL_IMAGE)],
                [ALLSTAR_FILE, RESIDUAL_IMAGE])

    records, last_psf, n_jobs, iraf_seconds = fit_psf(
        tool, ctx.work_dir, ctx.image_name, photfile, PSF_STARS_FILE, psets, ctx.shape, config,
        allstar, task_params=task_params(ctx))
    shutil.copyfile(ctx.work_dir / last_psf, ctx.work_dir / PSF_MODEL)
    model = daophot.read_psf_header(ctx.work_dir / PSF_MODEL)

    allstar_table = with_numbers(daophot.read_iraf_daophot(ctx.work_dir / ALLSTAR_FILE), stars)
    passes = [{"pass": 1, "n_stars": len(stars), "n_fitted": len(allstar_table),
               "seconds": round(phot_seconds + iraf_seconds, 2)}]
    measured, allstar_table, later = _residual_passes(ctx, tool, psets, stars, allstar_table,
                                                      fwhm, n_passes, last_psf)
    passes += later
    n_fitted = fill_by_number(ctx.table, allstar_table, _UNIFIED_FROM_ALLSTAR)
    ctx.details["psf"] = {
        "psf_star_selection": how, "n_psf_stars_given": n_psf, "iterations": records,
        "converged": records[-1]["converged"], "function_choice":
            records[0].get("function_choice"), "model": model, "model_file": last_psf,
        "daopars": {k: psets["daopars"][k] for k in ("function", "varorder", "psfrad", "fitrad")},
        "pyraf_jobs": n_jobs, "seconds_phot": round(phot_seconds, 2),
        "seconds_psf_allstar": round(iraf_seconds, 2), "passes": passes,
        "products": [PSF_MODEL, PSF_STARS_FILE, ALLSTAR_FILE, RESIDUAL_IMAGE]}
    ctx.qc.update({"psf_function": model["function"], "psf_n_stars": model["n_psf_stars"],
                   "psf_scatter": records[-1]["scatter"], "psf_n_fitted": n_fitted,
                   "psf_iterations": len(records), "psf_converged": records[-1]["converged"],
                   "psf_passes": len(passes)})
    figures = {"n_stars": len(measured), "n_fitted": n_fitted, "function": model["function"],
               "n_psf_stars": model["n_psf_stars"], "psf_scatter": records[-1]["scatter"],
               "iterations": len(records), "converged": records[-1]["converged"],
               "seconds_iraf": round(sum(p["seconds"] for p in passes), 2),
               "n_passes": len(passes), "n_added_by_passes": len(measured) - len(stars)}
    if ctx.config["aperture"]["subtract_neighbours"]:
        figures["n_aperture_without_neighbours"] = measure_without_neighbours(
            ctx, tool, psets, stars, PSF_MODEL, RESIDUAL_IMAGE, allstar_table)
    legacy = legacy_reduction(ctx)
    if legacy is not None and legacy.allstar is not None:
        figures.update(_compare_with_legacy(ctx, allstar_table, legacy.allstar))
    return figures


def _residual_passes(ctx, tool, psets, stars, allstar, fwhm, n_passes, psf_image):
    """Residual passes 2..n_passes (none with --legacy); new stars get rows in the table."""
    if n_passes < 2:
        return stars, allstar, []
    if legacy_reduction(ctx) is not None:
        log.info("[psf] passes = %d: no residual pass with --legacy (the rows are the "
                 "legacy stars)", n_passes)
        return stars, allstar, []
    log.info("%d ALLSTAR passes ([psf] passes = %s)", n_passes, ctx.config["psf"]["passes"])
    files = {"phot": "psf_pass{}.mag", "psf_model": psf_image, "allstar": ALLSTAR_FILE,
             "rejects": ALLSTAR_REJECTS, "residual": RESIDUAL_IMAGE}
    stars, allstar, records, fitted_new = run_passes(
        tool, ctx.tools.use("sextractor"), ctx.work_dir, ctx.image_name, psets, stars, allstar,
        files, fwhm_pix=fwhm, n_passes=n_passes, config=ctx.config["psf"]["second_pass"],
        search_setup=ctx.memo.get("sextractor_setup"), saturated=saturated_stars(ctx.detections))
    for pass_number, numbers in fitted_new.items():
        ctx.table = with_rows_found_by_pass(ctx.table, numbers, pass_number)
    return stars, allstar, records


def _compare_with_legacy(ctx, allstar, legacy_als):
    """legacy_comparison.ecsv + .png in the frame's results; summary into qc/details."""
    table, summary = compare_to_legacy(allstar, legacy_als, match_radius_pix=LEGACY_MATCH_PIX)
    write_table_atomic(table, ctx.out_dir / LEGACY_TABLE, format="ascii.ecsv")
    plot_legacy_comparison(table, summary, ctx.out_dir / LEGACY_PLOT)
    record = {key: value for key, value in summary.items() if key != "bins"}
    bins = summary.get("bins")
    if bins is not None:  # a Table: one JSON object per magnitude bin
        record["bins"] = [{name: row[name].item() for name in bins.colnames} for row in bins]
    ctx.details["legacy_comparison"] = {**record, "table": LEGACY_TABLE, "plot": LEGACY_PLOT}
    figures = {f"legacy_{key}": round(value, 4) if isinstance(value, float) else value
               for key, value in summary.items() if np.isscalar(value)}
    ctx.qc.update(figures)
    return figures
