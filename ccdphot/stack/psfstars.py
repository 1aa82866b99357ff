"""``ccdphot psfstars``: export a frame's good PSF stars for DAOPHOT, DS9 and the eye.

From a RESULTS folder (``ccdphot run`` made it; at least the header and detect
steps), or from an image, which is first run through the header and detect
steps in a scratch folder. The stars are chosen by the psf step's own
selection (:func:`ccdphot.daophot.psfstars.select_psf_stars`: isolated,
unsaturated, round, away from the edges), spread over the chip, and written as

* ``psf_stars.lst``: a DAOPHOT II PICK list; give it to the psf step with
  ``-o psf.stars_file=psf_stars.lst``;
* ``psf_stars.reg``: DS9 regions (circles of the PSF radius, labelled by ID);
* ``psf_stars.png``: a mosaic of cut-outs, for review.
"""

import logging
import tempfile
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table

from ccdphot.daophot.psfstars import select_psf_stars, write_lst
from ccdphot.errors import InputError
from ccdphot.fitsio import frame_stem
from ccdphot.frame.pipeline import run_frame
from ccdphot.plots.psfstars import plot_psf_star_mosaic
from ccdphot.products import WORK_DIR, read_frame_products, write_text_atomic
from ccdphot.wrappers.sextractor import CATALOG_NAME, read_catalog

log = logging.getLogger(__name__)

LST_NAME = "psf_stars.lst"
REGION_NAME = "psf_stars.reg"
MOSAIC_NAME = "psf_stars.png"
WORKING_IMAGE = "frame.fits"


def _need(path, what):
    if not path.is_file():
        raise InputError(f"{path}: missing; a RESULTS folder for psfstars needs {what} "
                         "(run `ccdphot run` with at least the header and detect steps)")
    return path


def read_results(results_dir):
    """(unified table, SExtractor detections, image, run.json qc) of a RESULTS folder."""
    results_dir = Path(results_dir)
    work = results_dir / WORK_DIR
    detections = _need(work / CATALOG_NAME, "the detections in work/")
    image = _need(work / WORKING_IMAGE, "the working image work/frame.fits")
    table, record = read_frame_products(results_dir)
    return table, read_catalog(detections), fits.getdata(image), record.get("qc", {})


def write_region_file(path, ids, x_pix, y_pix, radius_pix):
    """DS9 regions (image coordinates, FITS convention) of the stars, labelled by ID.

    Three lines of a fixed text format: not worth a dependency (astropy-regions).
    """
    lines = ["# Region file format: DS9 version 4.1",
             'global color=green width=1 font="helvetica 9 normal roman"', "image"]
    lines += [f"circle({x:.3f},{y:.3f},{radius_pix:.2f}) # text={{{int(i)}}}"
              for i, x, y in zip(ids, x_pix, y_pix)]
    return write_text_atomic(path, "\n".join(lines) + "\n")


def _chosen_stars(table, detections, image, qc, config, grid):
    fwhm = qc.get("seeing_fwhm_pix")
    if not fwhm or not np.isfinite(fwhm):
        raise InputError("no seeing in run.json (qc seeing_fwhm_pix): the detect step found "
                         "no point source to measure it; PSF stars cannot be chosen")
    psf_config = config["psf"]
    psfrad = psf_config["psfrad_fwhm"] * fwhm
    phot = Table({"NUMBER": table["NUMBER"], "MAG": table["MAG_APER"]})
    numbers = select_psf_stars(detections, phot, psfrad, image.shape, psf_config, fwhm,
                               saturate_adu=qc.get("saturate_adu"), grid=grid)
    row = {int(n): i for i, n in enumerate(table["NUMBER"])}
    chosen = table[[row[int(n)] for n in numbers]]
    stars = Table({"ID": chosen["NUMBER"], "X": np.asarray(chosen["X_IMAGE"], float),
                   "Y": np.asarray(chosen["Y_IMAGE"], float),
                   "MAG": np.ma.filled(chosen["MAG_APER"].astype(float), np.nan),
                   "MERR": np.ma.filled(chosen["MAGERR_APER"].astype(float), np.nan)})
    return stars, psfrad, fwhm


def write_psf_stars(source, config, out_dir=None, grid=3, profile="", header_values=None):
    """Choose and write the PSF stars of ``source`` (RESULTS folder or image); a summary dict."""
    source = Path(source)
    if source.is_dir():
        frame, target = source.name, Path(out_dir) if out_dir else source
        table, detections, image, qc = read_results(source)
    else:
        frame = frame_stem(source)
        target = Path(out_dir) if out_dir else Path(config["run"]["output_dir"]) / frame
        options = {"profile": profile, "header_values": header_values or {}}
        with tempfile.TemporaryDirectory(prefix="ccdphot-psfstars-") as scratch:
            result = run_frame(source, config, steps=["header", "detect"], out=scratch,
                               options=options)
            table, detections, image, qc = read_results(result.out_dir)
    stars, psfrad, fwhm = _chosen_stars(table, detections, image, qc, config, grid)
    if len(stars) < config["psf"]["min_stars"]:
        raise InputError(f"{frame}: only {len(stars)} good PSF stars (isolated, unsaturated, "
                         f"round; [psf] min_stars = {config['psf']['min_stars']}); relax [psf] "
                         "fwhm_tolerance or isolation_delta_mag")
    target.mkdir(parents=True, exist_ok=True)
    gain = qc.get("gain_e_per_adu") or 0.0
    files = [
        write_lst(target / LST_NAME, stars["ID"], stars["X"], stars["Y"], stars["MAG"],
                  stars["MERR"], image.shape, gain_e_per_adu=gain,
                  read_noise_adu=(qc.get("rdnoise_e") or 0.0) / gain if gain else 0.0,
                  high_bad_adu=qc.get("saturate_adu") or 0.0,
                  fitting_radius_pix=config["psf"]["fitrad_fwhm"] * fwhm),
        write_region_file(target / REGION_NAME, stars["ID"], stars["X"], stars["Y"], psfrad),
        plot_psf_star_mosaic(
            image, stars, int(round(psfrad)), target / MOSAIC_NAME,
            f"{len(stars)} PSF stars of {frame}: {2 * int(round(psfrad)) + 1}-pixel cut-outs "
            "(±PSF radius), each scaled to its peak (asinh); label: ID, MAG_APER [mag]")]
    log.info("%d PSF stars of %s -> %s", len(stars), frame, target)
    return {"frame": frame, "n_stars": len(stars), "files": files, "stars": stars}
