"""PSF stars: choose them among a frame's detections; write and read PSF-star lists.

:func:`select_psf_stars` is the choice the ``psf`` step makes and ``ccdphot
psfstars`` exports; :func:`write_lst` writes it as a DAOPHOT II PICK list
(``.lst``, NL=3), which :func:`psf_numbers_from_list` matches back to a
detection list by position (the ``psf`` step's ``[psf] stars_file``).
"""

import logging
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from ccdphot.daophot.daophot2_files import read_daophot_lst
from ccdphot.errors import InputError, OutputParseError
from ccdphot.products import write_text_atomic

log = logging.getLogger(__name__)

_LST_LABELS = " NL    NX    NY  LOWBAD HIGHBAD  THRESH     AP1  PH/ADU  RNOISE    FRAD"


def select_psf_stars(detections, phot, psfrad_pix, shape, config, fwhm_pix, saturate_adu=None,
                     grid=1):
    """Automatic PSF stars: bright, unsaturated, round, isolated, away from the edges.

    ``detections`` are SExtractor's (NUMBER, X/Y_IMAGE, MAG_AUTO, FLAGS,
    FLUX_MAX, BACKGROUND, FWHM_IMAGE, ELONGATION); ``phot`` a table with
    NUMBER and MAG (PHOT's), or None. Candidates: FLAGS 0, peak below
    ``saturation_fraction`` x SATURATE, FWHM within ``fwhm_tolerance`` of the
    seeing, elongation below 1 + ``fwhm_tolerance``, more than psfrad from the
    edges, measured by PHOT, and no neighbour brighter than (its magnitude +
    ``isolation_delta_mag``) within psfrad. Returns the NUMBERs of at most
    ``n_stars`` of them, brightest first; with ``grid`` > 1 the 2 x ``n_stars``
    brightest are spread over grid x grid cells of the chip (the brightest of
    each cell in turn), so no faint star is taken only to fill an empty cell.
    """
    det = detections
    x = np.asarray(det["X_IMAGE"], float)
    y = np.asarray(det["Y_IMAGE"], float)
    mag = np.asarray(det["MAG_AUTO"], float)
    ny, nx = shape
    good = (np.asarray(det["FLAGS"]) == 0) & np.isfinite(mag) & (mag < 90)
    good &= np.abs(np.asarray(det["FWHM_IMAGE"], float) / fwhm_pix - 1) < config["fwhm_tolerance"]
    good &= np.asarray(det["ELONGATION"], float) < 1 + config["fwhm_tolerance"]
    good &= (x > psfrad_pix + 1) & (x < nx - psfrad_pix)
    good &= (y > psfrad_pix + 1) & (y < ny - psfrad_pix)
    if saturate_adu:
        peak = np.asarray(det["FLUX_MAX"], float) + np.asarray(det["BACKGROUND"], float)
        good &= peak < config["saturation_fraction"] * saturate_adu
    if phot is not None:
        measured = np.asarray(phot["NUMBER"])[~np.ma.getmaskarray(phot["MAG"])]
        good &= np.isin(np.asarray(det["NUMBER"]), measured)
    tree = cKDTree(np.column_stack([x, y]))
    for i in np.flatnonzero(good):
        neighbours = [j for j in tree.query_ball_point((x[i], y[i]), psfrad_pix) if j != i]
        if neighbours and np.min(mag[neighbours]) < mag[i] + config["isolation_delta_mag"]:
            good[i] = False
    chosen = np.flatnonzero(good)
    chosen = chosen[np.argsort(mag[chosen], kind="stable")]
    if grid > 1:
        chosen = _spread(chosen[:2 * config["n_stars"]], x, y, shape, grid)
    return np.asarray(det["NUMBER"])[chosen[:config["n_stars"]]]


def _spread(order, x, y, shape, grid):
    """``order`` (brightest first) re-ordered round-robin over grid x grid chip cells."""
    ny, nx = shape
    cell = (np.minimum((y[order] - 1) * grid // ny, grid - 1) * grid
            + np.minimum((x[order] - 1) * grid // nx, grid - 1)).astype(int)
    rank = np.zeros(len(order), int)
    for value in np.unique(cell):
        rank[cell == value] = np.arange(np.sum(cell == value))
    return order[np.lexsort((np.arange(len(order)), rank))]


def write_lst(path, ids, x_pix, y_pix, mags, errors, shape, gain_e_per_adu=0.0,
              read_noise_adu=0.0, high_bad_adu=0.0, threshold_adu=0.0, aperture_pix=0.0,
              fitting_radius_pix=0.0):
    """A DAOPHOT II PICK list (NL=3): the header, a blank line, then ID X Y MAG ERR.

    Unknown header figures are written as 0. Written atomically.
    """
    ny, nx = shape
    values = (f" {3:2d}{nx:6d}{ny:6d}{0.0:8.1f}{high_bad_adu:8.1f}{threshold_adu:8.2f}"
              f"{aperture_pix:8.2f}{gain_e_per_adu:8.2f}{read_noise_adu:8.2f}"
              f"{fitting_radius_pix:8.2f}")
    rows = [f"{int(i):7d}{x:9.3f}{y:9.3f}{m:9.3f}{e:9.3f}"
            for i, x, y, m, e in zip(ids, x_pix, y_pix, mags, errors)]
    return write_text_atomic(path, "\n".join([_LST_LABELS, values, "", *rows]) + "\n")


def psf_numbers_from_list(path, detections, radius_pix=1.5):
    """NUMBERs of the detections nearest the stars of a PSF-star list (``.lst``/``.coo``).

    Raises InputError naming the file when it cannot be read or none of its
    stars lies within ``radius_pix`` of a detection.
    """
    path = Path(path).expanduser()
    try:
        stars = read_daophot_lst(path)
    except OutputParseError as err:
        raise InputError(f"[psf] stars_file {path}: not a DAOPHOT star list ({err})") from err
    tree = cKDTree(np.column_stack([np.asarray(detections["X_IMAGE"], float),
                                    np.asarray(detections["Y_IMAGE"], float)]))
    distance, nearest = tree.query(np.column_stack([np.ma.getdata(stars["X"]),
                                                    np.ma.getdata(stars["Y"])]),
                                   distance_upper_bound=radius_pix)
    found = np.isfinite(distance)
    if not found.any():
        raise InputError(f"[psf] stars_file {path}: none of its {len(stars)} stars lies within "
                         f"{radius_pix} pix of a detection (a list of another frame?)")
    if not found.all():
        log.warning("%s: %d of %d PSF stars have no detection within %g pix", path.name,
                    int((~found).sum()), len(stars), radius_pix)
    return np.asarray(detections["NUMBER"])[nearest[found]]
