"""astrometry.net ``solve-field``: a blind plate solution from the detection list.

Used when the header holds no usable pointing or pixel scale. *Build* writes
the detections as an x/y list (FITS table, FITS pixels, brightest first) and
an engine configuration naming the local index directory; *run* calls
``solve-field`` on the list (no image, no plots); *parse* reads the ``.wcs``
header it writes on success (TAN-SIP). Index files come from
``build-astrometry-index`` run on a catalogue file (docs/astrometry.rst).
"""

import logging
from pathlib import Path

import numpy as np
from astropy.table import Table
from ccdphot.wrappers.base import read_header_wcs, run_tool

from ccdphot.errors import AstrometryError, ConfigError

log = logging.getLogger(__name__)

XYLIST_NAME = "blind_xy.fits"
CONFIG_NAME = "astrometry.cfg"
OUTPUT_BASE = "blind"
WCS_NAME = "blind.wcs"
MAX_STARS = 300


def build(work_dir, xy, flux, index_dir):
    """Write the x/y list and the engine configuration; return their names."""
    work_dir = Path(work_dir)
    index_dir = Path(index_dir).expanduser().resolve()
    if not index_dir.is_dir() or not any(index_dir.glob("*.fits")):
        raise ConfigError(f"[astrometry] index_dir {index_dir}: no index files (*.fits) there; "
                          "build them with build-astrometry-index (docs/astrometry.rst)")
    (work_dir / WCS_NAME).unlink(missing_ok=True)
    order = np.argsort(-np.asarray(flux, float))[:MAX_STARS]
    Table({"X": xy[order, 0], "Y": xy[order, 1], "FLUX": np.asarray(flux, float)[order]}).write(
        work_dir / XYLIST_NAME, overwrite=True)
    (work_dir / CONFIG_NAME).write_text(f"inparallel\nadd_path {index_dir}\nautoindex\n")
    return XYLIST_NAME, CONFIG_NAME


def arguments(shape, scale_arcsec=None, scale_tolerance=0.1, pointing=None, radius_deg=None,
              cpulimit_s=60):
    """solve-field's argument list (files relative to the work directory)."""
    ny, nx = shape
    args = [XYLIST_NAME, "--config", CONFIG_NAME, "--width", nx, "--height", ny,
            "--x-column", "X", "--y-column", "Y", "--sort-column", "FLUX",
            "--dir", ".", "--out", OUTPUT_BASE, "--overwrite", "--no-plots",
            "--new-fits", "none", "--index-xyls", "none", "--rdls", "none", "--match", "none",
            "--corr", "none", "--solved", "none", "--wcs", WCS_NAME, "--temp-dir", ".",
            "--tweak-order", 2, "--cpulimit", int(cpulimit_s)]
    if scale_arcsec:
        args += ["--scale-units", "arcsecperpix",
                 "--scale-low", f"{scale_arcsec * (1 - scale_tolerance):.5f}",
                 "--scale-high", f"{scale_arcsec * (1 + scale_tolerance):.5f}"]
    if pointing is not None and radius_deg:
        args += ["--ra", f"{pointing.icrs.ra.deg:.6f}", "--dec", f"{pointing.icrs.dec.deg:.6f}",
                 "--radius", f"{radius_deg:.4f}"]
    return args


def read_wcs(path):
    """The WCS of solve-field's ``.wcs`` header file (pure parsing)."""
    return read_header_wcs(path, "solve-field")[1]


def solve(tool, xy, flux, shape, work_dir, index_dir, scale_arcsec=None, scale_tolerance=0.1,
          pointing=None, radius_deg=None):
    """Blind-solve the detections; return the WCS or raise AstrometryError."""
    build(work_dir, xy, flux, index_dir)
    args = arguments(shape, scale_arcsec, scale_tolerance, pointing, radius_deg,
                     cpulimit_s=max(10, tool.timeout_s - 10))
    run_tool(tool, args, cwd=work_dir)
    path = Path(work_dir) / WCS_NAME
    if not path.is_file():
        raise AstrometryError(f"{tool.label}: no blind solution with the index files in "
                              f"{index_dir}; check that they cover the field and its scale")
    return read_wcs(path)
