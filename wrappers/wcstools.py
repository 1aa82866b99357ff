"""WCSTools ``imwcs``: fit a linear WCS by matching a star list to a reference list.

A :class:`Job` (:mod:`ccdphot.wrappers.base`). *Build* writes a copy of the
image whose header holds the initial WCS, the detections as a DAOFIND-style
``x y mag`` list (``-d``) and the reference as a Starbase tab table (``-c``,
written by the catalogue layer); the arguments are ``imwcs -w -o`` with
relative names. *Parse* reads the WCS imwcs wrote into the output image
header, its count of matched stars (``WCSMATCH``) and their mean separation
from the reference (``WCSSEP``, arcsec); *check* applies the thresholds to them.
"""

import logging
from dataclasses import dataclass
from typing import Optional

import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS
from ccdphot.wrappers.base import SolutionJob, SolutionResult, read_header_wcs

from ccdphot.astrometry.wcsfit import replace_wcs
from ccdphot.catalogs.writers import write_text_list
from ccdphot.products import write_fits_atomic

log = logging.getLogger(__name__)

INPUT_NAME = "imwcs_in.fits"
OUTPUT_NAME = "imwcs_out.fits"
STARS_NAME = "imwcs_stars.txt"
REFERENCE_NAME = "imwcs_reference.tab"


@dataclass(frozen=True, kw_only=True)
class Job(SolutionJob):
    """imwcs on ``image_name`` (in the work directory) from the initial ``wcs``.

    ``stars`` are the usable detections, brightest first (x_pix, y_pix,
    FLUX_AUTO); the first ``max_stars`` of them and of ``reference`` are used.
    """

    image_name: str
    wcs: WCS
    header: fits.Header
    stars: Table
    reference: Table
    band: Optional[str] = None
    max_stars: int = 200
    outputs = (OUTPUT_NAME,)

    def build(self):
        n = self.max_stars
        data = fits.getdata(self.path(self.image_name))
        # WCSTools misreads astropy's PC + CDELT form and takes no EQUINOX as B1950
        write_fits_atomic(self.path(INPUT_NAME), data,
                          replace_wcs(self.header, self.wcs, cd_matrix=True))
        flux = np.clip(np.asarray(self.stars["FLUX_AUTO"], float), 1e-30, None)
        rows = [f"{x:.3f} {y:.3f} {m:.3f}" for x, y, m in
                zip(self.stars["x_pix"][:n], self.stars["y_pix"][:n],
                    25.0 - 2.5 * np.log10(flux[:n]))]
        self.path(STARS_NAME).write_text("\n".join(rows) + "\n")
        write_text_list(self.reference[:n], self.path(REFERENCE_NAME), band=self.band or "G",
                        style="wcstools")
        return ["-w", "-v", "-q", "is", "-h", str(n), "-t", "3",
                "-d", STARS_NAME, "-c", REFERENCE_NAME, "-o", OUTPUT_NAME, INPUT_NAME]

    def parse(self, run):
        wcs, figures = read_solution(self.path(OUTPUT_NAME))
        return SolutionResult(figures=figures, run=run, wcs=wcs,
                              n_matched=figures["imwcs_n_matched"],
                              rms_arcsec=figures["imwcs_mean_separation_arcsec"])


def read_solution(path):
    """(WCS, figures) from the image imwcs wrote (pure parsing).

    Figures: ``imwcs_n_matched`` (WCSMATCH, 0 when absent: no match) and
    ``imwcs_mean_separation_arcsec`` (WCSSEP, NaN when absent).
    """
    header, wcs = read_header_wcs(path, "imwcs")
    return wcs, {"imwcs_n_matched": int(header.get("WCSMATCH", 0)),
                 "imwcs_mean_separation_arcsec": float(header.get("WCSSEP", np.nan))}
