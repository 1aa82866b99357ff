"""IRAF ``ccmap``: a polynomial plate solution from matched stars, through PyRAF.

*Build* writes the matched list (x y in FITS pixels, ra dec in degrees) and a
grid of pixel positions; *run* is one PyRAF job (:mod:`ccdphot.wrappers.pyraf`):
``ccmap`` fits the solution into a database, ``cctran`` maps the grid to the
sky with it. *Parse* reads ccmap's fit RMS from its log and turns the grid
into a TAN + SIP WCS of the same degree, which reproduces IRAF's polynomial
(the conversion error is reported). IRAF's ``xxorder`` counts terms: a
polynomial of degree d (1 = linear, CCDPhot's default 4) is order d + 1.
"""

import logging
import re
from pathlib import Path

import numpy as np
from astropy.io import ascii as asciitable
from ccdphot.wrappers.pyraf import IrafCall, run_iraf

from ccdphot.astrometry.wcsfit import affordable_degree, fit_wcs, on_sky, quality
from ccdphot.errors import OutputParseError

log = logging.getLogger(__name__)

MATCHES_NAME = "ccmap_matches.txt"
DATABASE_NAME = "ccmap.db"
LOG_NAME = "ccmap.log"
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
                         "solutions": SOLUTION, "images": "", "results": "",
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


def build(work_dir, xy, sky, shape):
    """Write the matched list and the pixel grid (FITS pixels) into ``work_dir``."""
    work_dir = Path(work_dir)
    rows = [f"{x:.4f} {y:.4f} {r:.9f} {d:+.9f}"
            for (x, y), r, d in zip(xy, sky.ra.deg, sky.dec.deg)]
    (work_dir / MATCHES_NAME).write_text("\n".join(rows) + "\n")
    ny, nx = shape
    gx, gy = np.meshgrid(np.linspace(1, nx, GRID_STEPS), np.linspace(1, ny, GRID_STEPS))
    grid = [f"{x:.3f} {y:.3f}" for x, y in zip(gx.ravel(), gy.ravel())]
    (work_dir / GRID_NAME).write_text("\n".join(grid) + "\n")


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


def solve(tool, xy, sky, shape, work_dir, degree=4):
    """Fit ccmap to matched stars; return (TAN+SIP WCS, figures)."""
    work_dir = Path(work_dir)
    asked, degree = degree, affordable_degree(len(xy), degree)
    if degree < asked:
        log.warning("ccmap: %d matched stars constrain a polynomial of degree %d only "
                    "(asked for %d)", len(xy), degree, asked)
    build(work_dir, xy, sky, shape)
    run_iraf(tool, calls(shape, degree), work_dir, job="ccmap",
             expect=[DATABASE_NAME, GRID_SKY_NAME])
    rms_ra, rms_dec = read_log_rms(work_dir / LOG_NAME)
    grid, ra, dec = read_grid(work_dir / GRID_NAME, work_dir / GRID_SKY_NAME)
    grid_sky = on_sky(ra, dec)
    wcs = fit_wcs(grid, grid_sky, sip_degree=degree if degree > 1 else 0)
    conversion = quality(wcs, grid, grid_sky)
    log.info("ccmap degree %d: fit rms %.3f/%.3f arcsec; as SIP within %.4f arcsec",
             degree, rms_ra, rms_dec, conversion.rms_arcsec)
    return wcs, {"degree": degree, "iraf_order": degree + 1, "ccmap_rms_ra_arcsec": rms_ra,
                 "ccmap_rms_dec_arcsec": rms_dec,
                 "sip_conversion_rms_arcsec": round(conversion.rms_arcsec, 5)}
