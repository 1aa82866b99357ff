"""IRAF ``ccmap``: a polynomial plate solution from matched stars, through PyRAF.

A :class:`Job` (:mod:`ccdphot.wrappers.base`). *Build* writes the matched list
(x y in FITS pixels, ra dec in degrees) and a grid of pixel positions; the job
*executes* as one PyRAF job (:func:`ccdphot.wrappers.pyraf.run_iraf`): ``ccmap``
fits the solution into a database and lists each star's residuals,
``cctran`` maps the grid to the sky with it. *Parse* reads ccmap's fit RMS
from its log and the number of stars from its residual listing, and turns
the grid into a TAN + SIP WCS of the same degree, which reproduces IRAF's
polynomial (the conversion error is reported). *Check*: ccmap's own RMS and
star count against the thresholds. IRAF's ``xxorder`` counts terms: a
polynomial of degree d (1 = linear, CCDPhot's default 4) is order d + 1.
"""

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.coordinates import SkyCoord
from astropy.io import ascii as asciitable
from ccdphot.wrappers.base import SolutionJob, SolutionResult
from ccdphot.wrappers.pyraf import IrafCall, run_iraf

from ccdphot.astrometry.wcsfit import fit_wcs, on_sky, quality
from ccdphot.errors import OutputParseError

log = logging.getLogger(__name__)

MATCHES_NAME = "ccmap_matches.txt"
DATABASE_NAME = "ccmap.db"
LOG_NAME = "ccmap.log"
RESULTS_NAME = "ccmap_residuals.txt"
GRID_NAME = "ccmap_grid.txt"
GRID_SKY_NAME = "ccmap_grid_sky.txt"
SOLUTION = "frame"
GRID_STEPS = 24
_RMS = re.compile(r"fit\s+rms:\s+([-+0-9.eE]+)\s+([-+0-9.eE]+)\s+\(arcsec", re.I)


def calls(shape, degree):
    """The IRAF calls: ccmap (no image update) then cctran of the pixel grid."""
    order = int(degree) + 1
    ny, nx = shape
    ccmap = IrafCall("ccmap", package="images.imcoords", stdout=LOG_NAME,
                     remove=(DATABASE_NAME,), params={
                         "input": MATCHES_NAME, "database": DATABASE_NAME,
                         "solutions": SOLUTION, "images": "", "results": RESULTS_NAME,
                         "xcolumn": 1, "ycolumn": 2, "lngcolumn": 3, "latcolumn": 4,
                         "xmin": 0.5, "xmax": nx + 0.5, "ymin": 0.5, "ymax": ny + 0.5,
                         "lngunits": "degrees", "latunits": "degrees", "insystem": "icrs",
                         "refpoint": "coords", "projection": "tan",
                         "fitgeometry": "general", "function": "polynomial",
                         "xxorder": order, "xyorder": order, "xxterms": "half",
                         "yxorder": order, "yyorder": order, "yxterms": "half",
                         "reject": 3.0, "update": False, "interactive": False,
                         "verbose": True})
    cctran = IrafCall("cctran", package="images.imcoords", remove=(GRID_SKY_NAME,), params={
        "input": GRID_NAME, "output": GRID_SKY_NAME, "database": DATABASE_NAME,
        "solutions": SOLUTION, "geometry": "geometric", "forward": True,
        "xcolumn": 1, "ycolumn": 2, "lngunits": "degrees", "latunits": "degrees",
        "lngformat": "%.10f", "latformat": "%.10f", "min_sigdigits": 12})
    return [ccmap, cctran]


@dataclass(frozen=True, kw_only=True)
class Job(SolutionJob):
    """ccmap of degree ``degree`` fitted to stars at ``xy`` (FITS pixels, N x 2) matched
    to ``sky`` (SkyCoord), on a frame of ``shape`` (ny, nx)."""

    xy: np.ndarray
    sky: SkyCoord
    shape: tuple
    degree: int = 4
    outputs = (DATABASE_NAME, GRID_SKY_NAME, RESULTS_NAME, LOG_NAME)

    def build(self):
        rows = [f"{x:.4f} {y:.4f} {r:.9f} {d:+.9f}"
                for (x, y), r, d in zip(self.xy, self.sky.ra.deg, self.sky.dec.deg)]
        self.path(MATCHES_NAME).write_text("\n".join(rows) + "\n")
        ny, nx = self.shape
        gx, gy = np.meshgrid(np.linspace(1, nx, GRID_STEPS), np.linspace(1, ny, GRID_STEPS))
        grid = [f"{x:.3f} {y:.3f}" for x, y in zip(gx.ravel(), gy.ravel())]
        self.path(GRID_NAME).write_text("\n".join(grid) + "\n")
        return calls(self.shape, self.degree)

    @property
    def label(self):
        return "IRAF ccmap"

    def execute(self, args):
        """IRAF tasks run as one PyRAF job (itself a :func:`run_tool` call)."""
        return run_iraf(self.tool, args, self.work_dir, job="ccmap", expect=self.outputs)

    def parse(self, run):
        rms_ra, rms_dec = read_log_rms(self.path(LOG_NAME))
        n_used = count_fitted(self.path(RESULTS_NAME))
        grid, ra, dec = read_grid(self.path(GRID_NAME), self.path(GRID_SKY_NAME))
        grid_sky = on_sky(ra, dec)
        wcs = fit_wcs(grid, grid_sky, sip_degree=self.degree if self.degree > 1 else 0)
        conversion = quality(wcs, grid, grid_sky)
        log.info("ccmap degree %d: fit rms %.3f/%.3f arcsec (RA/Dec); as SIP within "
                 "%.4f arcsec", self.degree, rms_ra, rms_dec, conversion.rms_arcsec)
        figures = {"degree": self.degree, "iraf_order": self.degree + 1,
                   "ccmap_n_fitted": n_used, "ccmap_rms_ra_arcsec": rms_ra,
                   "ccmap_rms_dec_arcsec": rms_dec,
                   "sip_conversion_rms_arcsec": round(conversion.rms_arcsec, 5)}
        return SolutionResult(figures=figures, run=run, wcs=wcs, n_matched=n_used,
                              rms_arcsec=max(rms_ra, rms_dec))


def read_log_rms_text(text, name=LOG_NAME):
    """ccmap's own fit RMS (arcsec, RA and Dec) from its terminal output (pure parsing)."""
    found = _RMS.findall(text)
    if not found:
        raise OutputParseError(f"{name}: no 'fit rms' line in ccmap's log; ccmap "
                               "found no solution")
    ra, dec = found[-1]
    return float(ra), float(dec)


def read_log_rms(path):
    """:func:`read_log_rms_text` of the log file ``path``."""
    path = Path(path)
    text = path.read_text(errors="replace") if path.is_file() else ""
    return read_log_rms_text(text, path.name)


def count_fitted(path):
    """Stars ccmap kept in its fit: rows of its residual listing without INDEF (pure)."""
    path = Path(path)
    try:
        rows = [line for line in path.read_text(errors="replace").splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
    except OSError as err:
        raise OutputParseError(f"{path.name}: cannot read ccmap's residuals ({err})") from err
    return sum("INDEF" not in row for row in rows)


def read_grid(grid_path, sky_path):
    """Pixel grid and its sky positions from cctran's output: (xy, ra, dec)."""
    try:
        grid = np.loadtxt(grid_path, ndmin=2)
        sky = asciitable.read(sky_path, format="no_header", comment="#")
    except (OSError, ValueError) as err:
        raise OutputParseError(f"{Path(sky_path).name}: cannot read cctran's output "
                               f"({err})") from err
    if len(sky) != len(grid):
        raise OutputParseError(f"{Path(sky_path).name}: {len(sky)} rows for "
                               f"{len(grid)} grid points")
    return grid, np.asarray(sky.columns[0], float), np.asarray(sky.columns[1], float)
