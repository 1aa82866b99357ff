"""Residual passes: find the stars hidden in the wings of brighter ones, as observers do.

After ALLSTAR, SExtractor (the detect step's setup) searches the
star-subtracted image; detections farther than ``min_separation_fwhm`` x
seeing from every star already measured are added, PHOT measures the
complete list and ALLSTAR fits it again with the same PSF. Repeated for
``[psf] passes`` - 1 passes, or until a pass adds nothing. The new stars
ALLSTAR fitted get rows in the unified table (DETECTION_PASS = the pass).

Guards against runaway spurious detections: nothing near a saturated star
(within the PSF radius; its residual and bleed trail are not stars), nothing
elongated (trails), nothing along a saturated star's bleed trail (within 3 x
its isophote's semi-major axis A_IMAGE), nothing a pass cannot hold (at most ``max_new_fraction``
of the list per pass: the brightest are kept and the pass says so), and no
pass when the previous ALLSTAR fitted nothing.
"""

import logging
import shutil
import time

import numpy as np
from astropy.table import Table
from scipy.spatial import cKDTree

from ccdphot.frame.table import with_rows_found_by_pass
from ccdphot.wrappers import daophot, sextractor

log = logging.getLogger(__name__)

SATURATED_FLAG = 4  # SExtractor FLAGS bit: saturated pixels


def new_stars(found, stars, fwhm_pix, psfrad_pix, config, saturated=()):
    """The detections of ``found`` (SExtractor, on a residual image) that are new stars.

    ``stars`` (X, Y) are the stars already measured; ``saturated`` (x, y,
    extent) the saturated stars: nothing within max(psfrad, extent) of one,
    extent being 3 x its isophote's A_IMAGE (a bleed trail stretches it). Returns the rows kept, brightest first, at
    most ``max_new_fraction`` x len(stars), and the number cut by that cap.
    """
    x = np.asarray(found["X_IMAGE"], float)
    y = np.asarray(found["Y_IMAGE"], float)
    keep = (np.asarray(found["FLAGS"]) & SATURATED_FLAG) == 0
    keep &= np.asarray(found["ELONGATION"], float) < config["max_elongation"]
    points = np.column_stack([x, y])
    if len(stars):
        distance, _ = cKDTree(np.column_stack([stars["X"], stars["Y"]])).query(points)
        keep &= distance > config["min_separation_fwhm"] * fwhm_pix
    for x_sat, y_sat, extent in saturated:
        keep &= np.hypot(x - x_sat, y - y_sat) > max(psfrad_pix, extent)
    kept = found[keep]
    kept = kept[np.argsort(np.asarray(kept["MAG_AUTO"], float))]
    cap = int(config["max_new_fraction"] * len(stars))
    cut = max(0, len(kept) - cap)
    return kept[:cap], cut


def _saturated_stars(ctx):
    """(x, y, extent) of the detection list's saturated stars; extent = 3 x A_IMAGE."""
    det = ctx.detections
    if det is None or len(det) == 0:
        return []
    hit = (np.asarray(det["FLAGS"]) & SATURATED_FLAG) != 0
    return list(zip(np.asarray(det["X_IMAGE"], float)[hit], np.asarray(det["Y_IMAGE"], float)[hit],
                    3.0 * np.asarray(det["A_IMAGE"], float)[hit]))


def _search(ctx, residual_image, pass_number):
    """SExtractor on the residual image, in its own directory (detections.ldac is kept)."""
    directory = ctx.work_dir / f"pass{pass_number}_search"
    directory.mkdir(exist_ok=True)
    shutil.copyfile(ctx.work_dir / residual_image, directory / residual_image)
    setup = dict(ctx.memo.get("sextractor_setup") or {})
    settings = dict(setup.get("settings", {}))
    if settings.get("WEIGHT_IMAGE"):
        settings["WEIGHT_IMAGE"] = str((ctx.work_dir / settings["WEIGHT_IMAGE"]).resolve())
    setup["settings"] = settings
    tool = ctx.tools.use("sextractor")
    result = sextractor.Job(tool, directory, image_name=residual_image, **setup).run()
    (directory / residual_image).unlink()
    return result.table


def _current_positions(stars, allstar):
    """Star list with the ALLSTAR position of every fitted star (the input one otherwise)."""
    updated = Table(stars, copy=True)
    row = {int(n): i for i, n in enumerate(updated["NUMBER"])}
    for number, x, y in zip(allstar["NUMBER"], allstar["X"], allstar["Y"]):
        i = row.get(int(number))
        if i is not None and np.isfinite(x) and np.isfinite(y):
            updated["X"][i], updated["Y"][i] = float(x), float(y)
    return updated


def run_passes(ctx, tool, psets, stars, allstar, files, fwhm_pix):
    """Passes 2..``[psf] passes``; returns (stars, allstar, per-pass records).

    IRAF ID k is the k-th star of the pass's list (its coordinate file is
    written here), so NUMBER is looked up by position. ``files`` names the job's products: ``phot`` (PHOT output of a pass, with
    the pass number formatted in), ``psf_model``, ``allstar``, ``rejects`` and
    ``residual`` (rewritten by every pass; the last pass's remain).
    """
    config = ctx.config["psf"]
    records = []
    psfrad = float(psets["daopars"]["psfrad"])
    for pass_number in range(2, int(config["passes"]) + 1):
        if len(allstar) == 0:
            log.warning("pass %d skipped: the previous ALLSTAR fitted no star", pass_number)
            break
        start = time.perf_counter()
        found = _search(ctx, files["residual"], pass_number)
        stars = _current_positions(stars, allstar)
        added, cut = new_stars(found, stars, fwhm_pix, psfrad, config["second_pass"],
                               _saturated_stars(ctx))
        if cut:
            log.warning("pass %d: %d more residual detections than [psf.second_pass] "
                        "max_new_fraction allows were left out (artefacts? saturated stars, "
                        "trails)", pass_number, cut)
        if len(added) == 0:
            log.info("pass %d: the residual image holds no new star (%d detections); "
                     "no further pass", pass_number, len(found))
            records.append({"pass": pass_number, "n_residual_detections": len(found),
                            "n_added": 0, "n_capped": cut,
                            "seconds": round(time.perf_counter() - start, 2)})
            break
        first = int(np.max(stars["NUMBER"])) + 1
        numbers = np.arange(first, first + len(added))
        stars = Table({"NUMBER": np.concatenate([np.asarray(stars["NUMBER"], int), numbers]),
                       "X": np.concatenate([np.asarray(stars["X"], float),
                                            np.asarray(added["X_IMAGE"], float)]),
                       "Y": np.concatenate([np.asarray(stars["Y"], float),
                                            np.asarray(added["Y_IMAGE"], float)])})
        coords = f"pass{pass_number}_stars.xy"
        photfile = files["phot"].format(pass_number)
        daophot.write_coords(ctx.work_dir / coords, stars["X"], stars["Y"])
        calls = [daophot.phot_call(ctx.image_name, coords, photfile),
                 daophot.allstar_call(ctx.image_name, photfile, files["psf_model"],
                                      files["allstar"], files["rejects"], files["residual"])]
        allstar = daophot.Job(tool, ctx.work_dir, name=f"psf_pass{pass_number}", psets=psets,
                              calls=tuple(calls), expect=(files["allstar"], files["residual"]),
                              catalog=files["allstar"]).run().table
        record = {"pass": pass_number, "n_residual_detections": len(found),
                  "n_added": len(added), "n_capped": cut, "n_stars": len(stars),
                  "n_fitted": len(allstar), "seconds": round(time.perf_counter() - start, 2)}
        log.info("pass %d: %d stars added from the residual image (%d detections there), "
                 "ALLSTAR fitted %d of %d stars in %.1f s", pass_number, len(added), len(found),
                 len(allstar), len(stars), record["seconds"])
        records.append(record)
        allstar["NUMBER"] = np.asarray(stars["NUMBER"], int)[np.asarray(allstar["ID"], int) - 1]
        # rows for the new stars ALLSTAR fitted (one without a fit would hold nothing)
        ctx.table = with_rows_found_by_pass(
            ctx.table, numbers[np.isin(numbers, allstar["NUMBER"])], pass_number)
    return stars, allstar, records
