"""``psf`` step: DAOPHOT PSF + ALLSTAR (IRAF, through PyRAF) on the detection list.

1. PHOT of every star (the aperture step's file is reused when it ran).
2. PSF stars: chosen automatically (:func:`select_psf_stars`) or, with
   ``--legacy``, the legacy PSF-star list.
3. PSF iterations (``[psf] iterations``, 1-4): PSF on the frame; then, per
   further iteration, NSTAR fits the PSF stars' groups (the stars and their
   neighbours), SUBSTAR subtracts the neighbours (not the PSF stars), and PSF
   is refitted on that cleaned frame.
4. ALLSTAR fits every star with the last PSF and writes the residual image.
5. Residual passes (``[psf] passes`` > 1, :mod:`ccdphot.daophot.second_pass`):
   stars found in the residual image are added (new rows, DETECTION_PASS > 1)
   and ALLSTAR fits the complete list again; the last pass's residual remains.

All IRAF calls after PHOT run as one PyRAF job (no per-call start-up cost).
Products in ``work/``: ``psf_model.fits`` (IRAF PSF image), ``psf_stars.pst``,
``allstar.als``, ``residual.fits``, and ``psf_iter<k>.log`` per iteration.
Fills X_PSF, Y_PSF, MAG_PSF, MAGERR_PSF, CHI, SHARP by NUMBER. With
``--legacy DIR`` the result is also compared with the legacy ALLSTAR file.
"""

import logging

import numpy as np
from scipy.spatial import cKDTree

from ccdphot.daophot.files import read_iraf_daophot
from ccdphot.daophot.second_pass import run_passes
from ccdphot.daophot.legacy_comparison import compare_to_legacy, plot_legacy_comparison
from ccdphot.errors import InputError, ToolError
from ccdphot.frame.steps.daophot_support import (
    aperture_layer,
    frame_psets,
    legacy_reduction,
    legacy_twins,
    measure_without_neighbours,
    seeing_fwhm_pix,
    star_list,
    task_params,
    with_numbers,
    write_coords,
)
from ccdphot.frame.table import fill_by_number
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


def psf_layer(config, fwhm_pix):
    """daopars from ``[psf]``: function, variability order, PSF and fitting radii."""
    function = config["function"]
    if function != "auto" and function not in daophot.PSF_FUNCTIONS:
        raise InputError(f"[psf] function = {function!r}: use 'auto' or one of "
                         f"{', '.join(daophot.PSF_FUNCTIONS)}")
    psfrad = config["psfrad_fwhm"] * fwhm_pix
    fitrad = config["fitrad_fwhm"] * fwhm_pix
    return {"daopars": {"function": function, "varorder": int(config["varorder"]),
                        "psfrad": round(psfrad, 2), "fitrad": round(fitrad, 2),
                        "sannulus": round(fitrad + 1.0, 2),
                        "wsannulus": round(max(fitrad, 4.0), 2)}}


def select_psf_stars(detections, phot, psfrad_pix, shape, config, fwhm_pix, saturate_adu=None):
    """Automatic PSF stars: bright, unsaturated, round, isolated, away from the edges.

    ``detections`` are SExtractor's (NUMBER, X/Y_IMAGE, MAG_AUTO, FLAGS,
    FLUX_MAX, BACKGROUND, FWHM_IMAGE, ELONGATION); ``phot`` the PHOT table with
    NUMBER. Candidates: FLAGS 0, peak below ``saturation_fraction`` x SATURATE,
    FWHM within ``fwhm_tolerance`` of the seeing, elongation below 1 +
    ``fwhm_tolerance``, more than psfrad from the edges, measured by PHOT, and
    no neighbour brighter than (its magnitude + ``isolation_delta_mag``) within
    psfrad. Returns the NUMBERs of at most ``n_stars`` of them, brightest first.
    """
    det = detections
    x = np.asarray(det["X_IMAGE"], float)
    y = np.asarray(det["Y_IMAGE"], float)
    mag = np.asarray(det["MAG_AUTO"], float)
    ny, nx = shape
    good = (np.asarray(det["FLAGS"]) == 0) & np.isfinite(mag) & (mag < 90)
    good &= np.abs(np.asarray(det["FWHM_IMAGE"], float) / fwhm_pix - 1) < config["fwhm_tolerance"]
    good &= np.asarray(det["ELONGATION"], float) < 1 + config["fwhm_tolerance"]
    good &= (x > psfrad_pix + 1) & (x < nx - psfrad_pix)
    good &= (y > psfrad_pix + 1) & (y < ny - psfrad_pix)
    if saturate_adu:
        peak = np.asarray(det["FLUX_MAX"], float) + np.asarray(det["BACKGROUND"], float)
        good &= peak < config["saturation_fraction"] * saturate_adu
    measured = np.asarray(phot["NUMBER"])[~np.ma.getmaskarray(phot["MAG"])]
    good &= np.isin(np.asarray(det["NUMBER"]), measured)
    tree = cKDTree(np.column_stack([x, y]))
    for i in np.flatnonzero(good):
        neighbours = [j for j in tree.query_ball_point((x[i], y[i]), psfrad_pix) if j != i]
        if neighbours and np.min(mag[neighbours]) < mag[i] + config["isolation_delta_mag"]:
            good[i] = False
    chosen = np.flatnonzero(good)
    chosen = chosen[np.argsort(mag[chosen])][:config["n_stars"]]
    return np.asarray(det["NUMBER"])[chosen]


def _phot(ctx, tool, psets, stars):
    """The PHOT table of ``stars``: the aperture step's when it measured the same list."""
    previous = ctx.details.get("aperture", {})
    if previous.get("photfile") and previous.get("n_stars") == len(stars) \
            and (ctx.work_dir / previous["photfile"]).is_file():
        return with_numbers(read_iraf_daophot(ctx.work_dir / previous["photfile"]), stars), \
            previous["photfile"], 0.0
    coords = write_coords(ctx, stars)
    done = daophot.run(tool, ctx.work_dir, "psf_phot", psets,
                       [daophot.phot_call(ctx.image_name, coords, PHOT_FILE)], expect=[PHOT_FILE])
    return with_numbers(read_iraf_daophot(ctx.work_dir / PHOT_FILE), stars), PHOT_FILE, done.seconds


def _psf_numbers(ctx, phot, psets, fwhm):
    legacy = legacy_reduction(ctx)
    if legacy is not None and legacy.psf_stars is not None and len(legacy.psf_stars):
        log.info("PSF stars: the %d stars of the legacy PSF-star list", len(legacy.psf_stars))
        return np.asarray(legacy.psf_stars["ID"], int), "legacy list"
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


def _iteration_calls(image, photfile, iterations):
    """PSF/NSTAR/SUBSTAR calls of the iterations; PSF of iteration k writes psf_iter<k>."""
    calls = []
    for k in range(1, iterations + 1):
        psf_image = PSF_MODEL if k == iterations else f"psf_iter{k}.fits"
        source = image if k == 1 else f"cleaned_iter{k - 1}.fits"
        calls.append(daophot.psf_call(source, photfile, PSF_STARS_FILE, psf_image,
                                      f"psf_iter{k}.pst", f"psf_iter{k}.psg", f"psf_iter{k}.log"))
        if k < iterations:
            calls.append(daophot.nstar_call(image, f"psf_iter{k}.psg", psf_image,
                                            f"psf_iter{k}.nst", f"psf_iter{k}.nrj"))
            calls.append(daophot.substar_call(image, f"psf_iter{k}.nst", PSF_STARS_FILE,
                                              psf_image, f"cleaned_iter{k}.fits"))
    return calls


def run(ctx):
    fwhm = seeing_fwhm_pix(ctx)
    config = ctx.config["psf"]
    iterations = int(config["iterations"])
    if not 1 <= iterations <= MAX_ITERATIONS:
        raise InputError(f"[psf] iterations = {iterations}: use 1 to {MAX_ITERATIONS}")
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

    calls = _iteration_calls(ctx.image_name, photfile, iterations)
    calls.append(daophot.allstar_call(ctx.image_name, photfile, PSF_MODEL, ALLSTAR_FILE,
                                      ALLSTAR_REJECTS, RESIDUAL_IMAGE))
    try:
        done = daophot.run(tool, ctx.work_dir, "psf", psets, calls,
                           expect=[PSF_MODEL, ALLSTAR_FILE, RESIDUAL_IMAGE],
                           task_params=task_params(ctx))
    except ToolError as err:
        raise _psf_failure(ctx, err, iterations) from err
    per_iteration = [_iteration_record(ctx, k, iterations) for k in range(1, iterations + 1)]
    model = daophot.read_psf_header(ctx.work_dir / PSF_MODEL)

    allstar = with_numbers(read_iraf_daophot(ctx.work_dir / ALLSTAR_FILE), stars)
    passes = [{"pass": 1, "n_stars": len(stars), "n_fitted": len(allstar),
               "seconds": round(phot_seconds + done.seconds, 2)}]
    measured = stars
    if int(config["passes"]) > 1 and legacy_reduction(ctx) is None:
        measured, allstar, later = run_passes(ctx, tool, psets, stars, allstar, {
            "phot": "psf_pass{}.mag", "psf_model": PSF_MODEL, "allstar": ALLSTAR_FILE,
            "rejects": ALLSTAR_REJECTS, "residual": RESIDUAL_IMAGE}, fwhm)
        passes += later
    n_fitted = fill_by_number(ctx.table, allstar, _UNIFIED_FROM_ALLSTAR)
    ctx.details["psf"] = {
        "psf_star_selection": how, "n_psf_stars_given": n_psf, "iterations": per_iteration,
        "model": model, "daopars": {k: psets["daopars"][k] for k in (
            "function", "varorder", "psfrad", "fitrad")},
        "seconds_phot": round(phot_seconds, 2), "seconds_psf_allstar": round(done.seconds, 2),
        "passes": passes, "products": [PSF_MODEL, PSF_STARS_FILE, ALLSTAR_FILE, RESIDUAL_IMAGE]}
    ctx.qc.update({"psf_function": model["function"], "psf_n_stars": model["n_psf_stars"],
                   "psf_scatter": per_iteration[-1]["scatter"], "psf_n_fitted": n_fitted})
    figures = {"n_stars": len(measured), "n_fitted": n_fitted, "function": model["function"],
               "n_psf_stars": model["n_psf_stars"], "psf_scatter": per_iteration[-1]["scatter"],
               "seconds_iraf": round(sum(p["seconds"] for p in passes), 2),
               "n_passes": len(passes), "n_added_by_passes": len(measured) - len(stars)}
    if ctx.config["aperture"]["subtract_neighbours"]:
        figures["n_aperture_without_neighbours"] = measure_without_neighbours(
            ctx, tool, psets, stars, PSF_MODEL, RESIDUAL_IMAGE, allstar)
    legacy = legacy_reduction(ctx)
    if legacy is not None and legacy.allstar is not None:
        figures.update(_compare_with_legacy(ctx, allstar, legacy.allstar))
    return figures


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


def _iteration_record(ctx, k, iterations):
    """Figures of PSF iteration k from its log; a failed fit raises ToolError."""
    report = daophot.read_psf_log(ctx.work_dir / f"psf_iter{k}.log")
    model = daophot.read_psf_header(
        ctx.work_dir / (PSF_MODEL if k == iterations else f"psf_iter{k}.fits"))
    daophot.check_psf_fit(report, model, ctx.config["psf"]["max_fit_scatter"], f"psf_iter{k}.log")
    scatter = report["scatter"].get(report["function"])
    log.info("PSF iteration %d: %d PSF stars, function %s, fit scatter %s%s", k,
             report["n_stars"], report["function"],
             f"{scatter:.4f}" if scatter is not None else "?",
             "" if len(report["scatter"]) == 1 else
             " (tried " + ", ".join(f"{f} {s:.4f}" for f, s in report["scatter"].items()) + ")")
    return {"iteration": k, "n_psf_stars": report["n_stars"], "function": report["function"],
            "scatter": scatter, "scatter_by_function": report["scatter"]}


def _psf_failure(ctx, err, iterations):
    """A clearer error when IRAF PSF fitted no model in some iteration."""
    if "task psf failed" not in err.stderr_tail and err.returncode != 0:
        return err
    for k in range(1, iterations + 1):
        image = PSF_MODEL if k == iterations else f"psf_iter{k}.fits"
        if not (ctx.work_dir / image).is_file():
            return ToolError(err.tool, f"PSF fit failed in iteration {k}: no PSF model "
                             f"written (see work/psf_iter{k}.log); check the PSF stars in "
                             f"work/{PSF_STARS_FILE} and [psf] function/psfrad_fwhm",
                             argv=err.argv, returncode=err.returncode,
                             stderr_tail=err.stderr_tail)
    return err

