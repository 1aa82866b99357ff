"""WCSTools ``imwcs``: fit a linear WCS by matching a star list to a reference list.

*Build* writes a copy of the image whose header holds the initial WCS, the
detections as a DAOFIND-style ``x y mag`` list (``-d``) and the reference as
a Starbase tab table (``-c``, written by the catalogue layer). *Run* calls
``imwcs -w -o`` with relative names. *Parse* reads the WCS imwcs wrote into
the output image header and its count of matched stars (``WCSMATCH``).
"""

import logging
from pathlib import Path

import numpy as np
from astropy.io import fits
from ccdphot.wrappers.base import read_header_wcs, run_tool

from ccdphot.astrometry.wcsfit import replace_wcs
from ccdphot.catalogs.writers import write_text_list
from ccdphot.errors import ToolError
from ccdphot.products import write_fits_atomic

log = logging.getLogger(__name__)

INPUT_NAME = "imwcs_in.fits"
OUTPUT_NAME = "imwcs_out.fits"
STARS_NAME = "imwcs_stars.txt"
REFERENCE_NAME = "imwcs_reference.tab"


def build(work_dir, image_name, wcs, header, stars, reference, band, max_stars=200):
    """Write imwcs' inputs into ``work_dir``; return the argument list."""
    work_dir = Path(work_dir)
    (work_dir / OUTPUT_NAME).unlink(missing_ok=True)
    data = fits.getdata(work_dir / image_name)
    # WCSTools misreads astropy's PC + CDELT form and takes no EQUINOX as B1950
    write_fits_atomic(work_dir / INPUT_NAME, data, replace_wcs(header, wcs, cd_matrix=True))
    flux = np.clip(np.asarray(stars["FLUX_AUTO"], float), 1e-30, None)
    rows = [f"{x:.3f} {y:.3f} {m:.3f}" for x, y, m in
            zip(stars["x_pix"][:max_stars], stars["y_pix"][:max_stars],
                25.0 - 2.5 * np.log10(flux[:max_stars]))]
    (work_dir / STARS_NAME).write_text("\n".join(rows) + "\n")
    write_text_list(reference[:max_stars], work_dir / REFERENCE_NAME, band=band or "G",
                    style="wcstools")
    return ["-w", "-v", "-q", "is", "-h", str(max_stars), "-t", "3",
            "-d", STARS_NAME, "-c", REFERENCE_NAME, "-o", OUTPUT_NAME, INPUT_NAME]


def read_solution(path):
    """(WCS, number of matched stars) from the image imwcs wrote (pure parsing)."""
    header, wcs = read_header_wcs(path, "imwcs")
    return wcs, int(header.get("WCSMATCH", 0))


def solve(tool, image_name, work_dir, wcs, header, stars, reference, band=None):
    """Run imwcs from the initial ``wcs``; return (wcs, figures)."""
    args = build(work_dir, image_name, wcs, header, stars, reference, band)
    run = run_tool(tool, args, cwd=work_dir, expect=[OUTPUT_NAME])
    solution, n_matched = read_solution(Path(work_dir) / OUTPUT_NAME)
    if n_matched == 0:
        raise ToolError(tool.label, "matched no star (no WCSMATCH in its output)",
                        argv=run.argv)
    log.info("imwcs: %d stars matched", n_matched)
    return solution, {"imwcs_n_matched": n_matched}
