"""The per-frame QC figures, drawn from what the steps of this run left behind.

Called by the write step when ``[plots] qc`` is true: gathers the working image,
the unified table, the PSF stars (psf step) and the astrometric residuals
(astrometry step) and hands them to :mod:`ccdphot.plots.frame_qc`. What a step did
not make is left out of the figures. (The zeropoint step draws its residuals
itself, ``zeropoint.png``.)
The time it takes is reported as the write step's ``qc_plots_seconds``.
"""

import logging
import time

import numpy as np
from astropy.io import fits
from astropy.table import Table

from ccdphot.astrometry.residuals import RESIDUALS_TABLE
from ccdphot.plots.frame_qc import QC_IMAGE, QC_PHOTOMETRY, plot_photometry_qc, plot_thumbnail

log = logging.getLogger(__name__)


def _psf_stars_xy(ctx):
    """(N, 2) FITS pixel positions of the PSF stars the psf step gave IRAF, or None."""
    products = ctx.details.get("psf", {}).get("products", [])
    lists = [ctx.work_dir / name for name in products if name.endswith(".pst")]
    if not lists or not lists[0].is_file():
        return None
    # IRAF's pst layout (ID XCENTER YCENTER MAG MSKY), '#' header lines, as ccdphot writes it
    return np.loadtxt(lists[0], comments="#", usecols=(1, 2), ndmin=2)


def _table_if_made(path):
    return Table.read(path, format="ascii.ecsv") if path.is_file() else None


def write_qc_plots(ctx):
    """Draw qc_image.png and qc_photometry.png into the frame's results; {figures}."""
    if not ctx.config["plots"]["qc"] or ctx.table is None or not ctx.image_path.is_file():
        return {}
    started = time.perf_counter()
    qc = ctx.qc
    seeing = qc.get("seeing_fwhm_pix")
    title = (f"{ctx.stem}: {len(ctx.table)} stars"  # rows: detections and later-pass stars
             + (f", seeing {seeing:.2f} pix" if seeing else "")
             + (f", filter {qc['filter']}" if qc.get("filter") else ""))
    image = fits.getdata(ctx.image_path)
    written = [plot_thumbnail(image, ctx.table, ctx.out_dir / QC_IMAGE, title,
                              psf_xy=_psf_stars_xy(ctx)),
               plot_photometry_qc(ctx.table, ctx.out_dir / QC_PHOTOMETRY, title, image.shape,
                                  astrometry=_table_if_made(ctx.work_dir / RESIDUALS_TABLE))]
    seconds = round(time.perf_counter() - started, 3)
    ctx.details["qc_plots"] = {"files": [path.name for path in written], "seconds": seconds}
    log.info("QC figures %s in %.2f s", ", ".join(path.name for path in written), seconds)
    return {"qc_plots_seconds": seconds}
