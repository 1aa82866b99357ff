"""astrometry.net ``solve-field``: a blind plate solution from the detection list.

Used when the header holds no usable pointing or pixel scale. A :class:`Job`
(:mod:`ccdphot.wrappers.base`). *Build* writes the detections as an x/y list
(FITS table, FITS pixels, brightest first) and an engine configuration naming
the local index directory; the arguments run ``solve-field`` on the list (no
image, no plots). *Parse* reads the ``.wcs`` header it writes on success
(TAN-SIP) and its correspondence list (field star <-> index star), whose
number and on-sky RMS separation are the solution's figures; *check* applies
the thresholds. Index files come from ``build-astrometry-index`` run on a
catalogue file (docs/astrometry.rst).
"""

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import Table
from ccdphot.wrappers.base import SolutionJob, SolutionResult, read_header_wcs

from ccdphot.errors import AstrometryError, ConfigError, OutputParseError

log = logging.getLogger(__name__)

XYLIST_NAME = "blind_xy.fits"
CONFIG_NAME = "astrometry.cfg"
OUTPUT_BASE = "blind"
WCS_NAME = "blind.wcs"
CORR_NAME = "blind_corr.fits"
MAX_STARS = 300


@dataclass(frozen=True, kw_only=True)
class Job(SolutionJob):
    """solve-field on stars at ``xy`` (FITS pixels, N x 2) with ``flux``, on a frame
    of ``shape`` (ny, nx), with the index files in ``index_dir``. A known pixel
    scale (within ``scale_tolerance``) and pointing (within ``radius_deg``)
    narrow the search."""

    xy: np.ndarray
    flux: np.ndarray
    shape: tuple
    index_dir: Path
    scale_arcsec: Optional[float] = None
    scale_tolerance: float = 0.1
    pointing: Optional[SkyCoord] = None
    radius_deg: Optional[float] = None
    optional_outputs = (WCS_NAME, CORR_NAME)  # written only when solved

    def build(self):
        index_dir = Path(self.index_dir).expanduser().resolve()
        if not index_dir.is_dir() or not any(index_dir.glob("*.fits")):
            raise ConfigError(f"[astrometry] index_dir {index_dir}: no index files (*.fits) "
                              "there; build them with build-astrometry-index "
                              "(docs/astrometry.rst)")
        flux = np.asarray(self.flux, float)
        order = np.argsort(-flux)[:MAX_STARS]
        Table({"X": self.xy[order, 0], "Y": self.xy[order, 1], "FLUX": flux[order]}).write(
            self.path(XYLIST_NAME), overwrite=True)
        self.path(CONFIG_NAME).write_text(f"inparallel\nadd_path {index_dir}\nautoindex\n")
        ny, nx = self.shape
        args = [XYLIST_NAME, "--config", CONFIG_NAME, "--width", nx, "--height", ny,
                "--x-column", "X", "--y-column", "Y", "--sort-column", "FLUX",
                "--dir", ".", "--out", OUTPUT_BASE, "--overwrite", "--no-plots",
                "--new-fits", "none", "--index-xyls", "none", "--rdls", "none",
                "--match", "none", "--corr", CORR_NAME, "--solved", "none", "--wcs", WCS_NAME,
                "--temp-dir", ".", "--tweak-order", 2,
                "--cpulimit", int(max(10, self.tool.timeout_s - 10))]
        if self.scale_arcsec:
            args += ["--scale-units", "arcsecperpix",
                     "--scale-low", f"{self.scale_arcsec * (1 - self.scale_tolerance):.5f}",
                     "--scale-high", f"{self.scale_arcsec * (1 + self.scale_tolerance):.5f}"]
        if self.pointing is not None and self.radius_deg:
            args += ["--ra", f"{self.pointing.icrs.ra.deg:.6f}",
                     "--dec", f"{self.pointing.icrs.dec.deg:.6f}",
                     "--radius", f"{self.radius_deg:.4f}"]
        return args

    def parse(self, run):
        if not self.path(WCS_NAME).is_file():
            raise AstrometryError(f"{self.label}: no blind solution with the index files "
                                  f"in {self.index_dir}; check that they cover the field and "
                                  "its scale")
        wcs = read_header_wcs(self.path(WCS_NAME), "solve-field")[1]
        figures = read_correspondences(self.path(CORR_NAME))
        return SolutionResult(figures=figures, run=run, wcs=wcs,
                              n_matched=figures["solve_field_n_matched"],
                              rms_arcsec=figures["solve_field_rms_arcsec"])


def read_correspondences(path):
    """Matched stars and their on-sky RMS separation (arcsec) from solve-field's
    ``--corr`` table (field_ra/field_dec through the solution, index_ra/index_dec)."""
    path = Path(path)
    try:
        rows = fits.getdata(path, 1)
        field = SkyCoord(rows["field_ra"], rows["field_dec"], unit="deg")
        index = SkyCoord(rows["index_ra"], rows["index_dec"], unit="deg")
    except (OSError, KeyError, IndexError, ValueError) as err:
        raise OutputParseError(f"{path.name}: not a readable solve-field correspondence "
                               f"table ({err})") from err
    separation = field.separation(index).arcsec
    rms = float(np.sqrt(np.mean(separation ** 2))) if len(separation) else float("nan")
    return {"solve_field_n_matched": int(len(separation)),
            "solve_field_rms_arcsec": round(rms, 4)}
