"""Residual passes: find the stars hidden in the wings of brighter ones, as observers do.

After ALLSTAR, SExtractor (the detection's own setup) searches the
star-subtracted image; detections farther than ``min_separation_fwhm`` x
seeing from every star already measured are added, PHOT measures the
complete list and ALLSTAR fits it again with the same PSF. Repeated for
``passes`` - 1 passes, or until a pass adds nothing. Returns, per pass, the
NUMBERs of the new stars ALLSTAR fitted (the caller gives them rows).

Guards against runaway spurious detections: nothing near a saturated star
(within the PSF radius; its residual and bleed trail are not stars), nothing
elongated (trails), nothing along a saturated star's bleed trail (within 3 x
its isophote's semi-major axis A_IMAGE), nothing a pass cannot hold (at most
``max_new_fraction`` of the list per pass: the brightest are kept and the
pass says so), no row for a new star ALLSTAR fitted with a CHI above
``max_chi_ratio`` x the first pass's median (mostly PSF residuals), no pass
when the previous ALLSTAR fitted nothing, and at most :data:`MAX_PASSES`
passes.
"""

import logging
import shutil
import time
from pathlib import Path

import numpy as np
from astropy.table import Table
from scipy.spatial import cKDTree

from ccdphot.errors import ConfigError
from ccdphot.wrappers import daophot, sextractor

log = logging.getLogger(__name__)

SATURATED_FLAG = 4  # SExtractor FLAGS bit: saturated pixels
MAX_PASSES = 4
AUTO_PASSES_CROWDED = 2  # measured on NGC 6871: docs/daophot.rst


def number_of_passes(setting, crowded):
    """``[psf] passes`` for a frame: "auto" is 2 when ``crowded``, else 1; 1..MAX_PASSES."""
    if setting == "auto":
        return AUTO_PASSES_CROWDED if crowded else 1
    if isinstance(setting, bool) or not isinstance(setting, int) \
            or not 1 <= setting <= MAX_PASSES:
        raise ConfigError(f"[psf] passes = {setting!r}: give \"auto\" or 1 to {MAX_PASSES} "
                          "(1 = no residual pass)")
    return setting


def saturated_stars(detections):
    """(x, y, extent) of the detections flagged saturated; extent = 3 x A_IMAGE."""
    if detections is None or len(detections) == 0:
        return []
    hit = (np.asarray(detections["FLAGS"]) & SATURATED_FLAG) != 0
    return list(zip(np.asarray(detections["X_IMAGE"], float)[hit],
                    np.asarray(detections["Y_IMAGE"], float)[hit],
                    3.0 * np.asarray(detections["A_IMAGE"], float)[hit]))


def new_stars(found, stars, fwhm_pix, psfrad_pix, config, saturated=()):
    """The detections of ``found`` (SExtractor, on a residual image) that are new stars.

    ``stars`` (X, Y) are the stars already measured; ``saturated`` (x, y,
    extent) the saturated stars: nothing within max(psfrad, extent) of one,
    extent being 3 x its isophote's A_IMAGE (a bleed trail stretches it).
    Returns the rows kept, brightest first, at most ``max_new_fraction`` x
    len(stars), and the number cut by that cap.
    """
    x = np.asarray(found["X_IMAGE"], float)
    y = np.asarray(found["Y_IMAGE"], float)
    keep = (np.asarray(found["FLAGS"]) & SATURATED_FLAG) == 0
    keep &= np.asarray(found["ELONGATION"], float) < config["max_elongation"]
    points = np.column_stack([x, y])
    if len(stars) and len(points):
        distance, _ = cKDTree(np.column_stack([stars["X"], stars["Y"]])).query(points)
        keep &= distance > config["min_separation_fwhm"] * fwhm_pix
    for x_sat, y_sat, extent in saturated:
        keep &= np.hypot(x - x_sat, y - y_sat) > max(psfrad_pix, extent)
    kept = found[keep]
    kept = kept[np.argsort(np.asarray(kept["MAG_AUTO"], float))]
    cap = int(config["max_new_fraction"] * len(stars))
    cut = max(0, len(kept) - cap)
    return kept[:cap], cut


def search_residual(tool, residual_path, directory, search_setup):
    """SExtractor detections on the image ``residual_path``, run in ``directory``.

    ``search_setup`` is the detection's sextractor.Job configuration
    (``settings``, optional ``config_file``); a relative WEIGHT_IMAGE is taken
    from the residual's folder. The catalogue stays in ``directory``.
    """
    residual_path = Path(residual_path)
    directory.mkdir(exist_ok=True)
    shutil.copyfile(residual_path, directory / residual_path.name)
    setup = dict(search_setup or {})
    settings = dict(setup.get("settings", {}))
    if settings.get("WEIGHT_IMAGE"):
        settings["WEIGHT_IMAGE"] = str((residual_path.parent / settings["WEIGHT_IMAGE"]).resolve())
    setup["settings"] = settings
    try:
        return sextractor.Job(tool, directory, image_name=residual_path.name, **setup).run().table
    finally:
        (directory / residual_path.name).unlink()


def current_positions(stars, allstar):
    """Star list with the ALLSTAR position of every fitted star (the input one otherwise)."""
    updated = Table(stars, copy=True)
    row = {int(n): i for i, n in enumerate(updated["NUMBER"])}
    for number, x, y in zip(allstar["NUMBER"], allstar["X"], allstar["Y"]):
        i = row.get(int(number))
        if i is not None and np.isfinite(x) and np.isfinite(y):
            updated["X"][i], updated["Y"][i] = float(x), float(y)
    return updated


def _with_added(stars, added):
    """``stars`` plus the ``added`` detections, numbered after the last NUMBER."""
    first = int(np.max(stars["NUMBER"])) + 1
    numbers = np.arange(first, first + len(added))
    return Table({"NUMBER": np.concatenate([np.asarray(stars["NUMBER"], int), numbers]),
                  "X": np.concatenate([np.asarray(stars["X"], float),
                                       np.asarray(added["X_IMAGE"], float)]),
                  "Y": np.concatenate([np.asarray(stars["Y"], float),
                                       np.asarray(added["Y_IMAGE"], float)])}), numbers


def run_passes(iraf, sex, work_dir, image_name, psets, stars, allstar, files, *, fwhm_pix,
               n_passes, config, search_setup, saturated=()):
    """Passes 2..``n_passes`` on the frame ``image_name`` in ``work_dir``.

    ``iraf``/``sex`` are the resolved tools, ``stars`` (NUMBER, X, Y) the list
    ALLSTAR fitted into ``allstar`` (with NUMBER), ``config`` the
    ``[psf.second_pass]`` table, ``search_setup`` the detection's SExtractor
    configuration, ``saturated`` from :func:`saturated_stars`. IRAF ID k is the
    k-th star of the pass's list (its coordinate file is written here).
    ``files`` names the products: ``phot`` (PHOT output of a pass, the pass
    number formatted in), ``psf_model``, ``allstar``, ``rejects`` and
    ``residual`` (rewritten by every pass; the last pass's remain).

    Returns (stars, allstar, per-pass records, {pass: NUMBERs of the new
    stars ALLSTAR fitted}).
    """
    records, fitted_new = [], {}
    psfrad = float(psets["daopars"]["psfrad"])
    max_chi = _chi_limit(allstar, config)
    for pass_number in range(2, min(int(n_passes), MAX_PASSES) + 1):
        if len(allstar) == 0:
            log.warning("pass %d skipped: the previous ALLSTAR fitted no star", pass_number)
            break
        start = time.perf_counter()
        found = search_residual(sex, Path(work_dir) / files["residual"],
                                Path(work_dir) / f"pass{pass_number}_search", search_setup)
        stars = current_positions(stars, allstar)
        added, cut = new_stars(found, stars, fwhm_pix, psfrad, config, saturated)
        if cut:
            log.warning("pass %d: %d more residual detections than [psf.second_pass] "
                        "max_new_fraction allows were left out (artefacts? saturated stars, "
                        "trails)", pass_number, cut)
        record = {"pass": pass_number, "n_residual_detections": len(found),
                  "n_added": len(added), "n_capped": cut}
        if len(added) == 0:
            log.info("pass %d: the residual image holds no new star (%d detections); "
                     "no further pass", pass_number, len(found))
            records.append({**record, "seconds": round(time.perf_counter() - start, 2)})
            break
        stars, numbers = _with_added(stars, added)
        allstar = _fit(iraf, work_dir, image_name, psets, stars, files, pass_number)
        # a new star ALLSTAR did not fit would hold nothing; one it fitted worse
        # than the first pass's stars is mostly a PSF residual
        fitted = np.isin(allstar["NUMBER"], numbers)
        star_like = fitted & (np.ma.filled(np.ma.asarray(allstar["CHI"], float), np.inf)
                              < max_chi)
        fitted_new[pass_number] = np.sort(np.asarray(allstar["NUMBER"], int)[star_like])
        record.update({"n_stars": len(stars), "n_fitted": len(allstar),
                       "n_new_fitted": int(fitted.sum()), "n_new_kept": int(star_like.sum()),
                       "seconds": round(time.perf_counter() - start, 2)})
        log.info("pass %d: %d stars added from the residual image (%d detections there), "
                 "ALLSTAR fitted %d of %d stars in %.1f s; %d new stars kept (%d fitted, "
                 "CHI < %.3f)", pass_number, len(added), len(found), len(allstar), len(stars),
                 record["seconds"], star_like.sum(), fitted.sum(), max_chi)
        records.append(record)
    return stars, allstar, records, fitted_new


def _chi_limit(allstar, config):
    """CHI above which a new star is not kept: ``max_chi_ratio`` x the first pass's median.

    On the HAT-P-32 frame of 3.2 pix seeing, 63 % of the second pass's stars
    are found again in the night's best-seeing frames (first-pass stars: 99 %,
    chance 8 %); of those with CHI above 1.5 x the median, 26 %
    (docs/daophot.rst). 0 keeps every fitted star.
    """
    ratio = float(config.get("max_chi_ratio", 0.0))
    chi = np.ma.filled(np.ma.asarray(allstar["CHI"], float), np.nan) if len(allstar) else []
    if ratio <= 0 or not np.isfinite(chi).any():
        return np.inf
    return ratio * float(np.nanmedian(chi))


def _fit(iraf, work_dir, image_name, psets, stars, files, pass_number):
    """PHOT + ALLSTAR of ``stars`` with the PSF model; the ALLSTAR table with NUMBER."""
    coords = f"pass{pass_number}_stars.xy"
    photfile = files["phot"].format(pass_number)
    daophot.write_coords(Path(work_dir) / coords, stars["X"], stars["Y"])
    calls = (daophot.phot_call(image_name, coords, photfile),
             daophot.allstar_call(image_name, photfile, files["psf_model"], files["allstar"],
                                  files["rejects"], files["residual"]))
    allstar = daophot.Job(iraf, work_dir, name=f"psf_pass{pass_number}", psets=psets,
                          calls=calls, expect=(files["allstar"], files["residual"]),
                          catalog=files["allstar"]).run().table
    allstar["NUMBER"] = np.asarray(stars["NUMBER"], int)[np.asarray(allstar["ID"], int) - 1]
    return allstar
