"""Automatic choice of the DAOPHOT PSF stars from the detection list."""

import logging

import numpy as np
from scipy.spatial import cKDTree

log = logging.getLogger(__name__)


def select_psf_stars(detections, phot, psfrad_pix, shape, config, fwhm_pix, saturate_adu=None):
    """Automatic PSF stars: bright, unsaturated, round, isolated, away from the edges.

    ``detections`` are SExtractor's (NUMBER, X/Y_IMAGE, MAG_AUTO, FLAGS,
    FLUX_MAX, BACKGROUND, FWHM_IMAGE, ELONGATION); ``phot`` the PHOT table with
    NUMBER. Candidates: FLAGS 0, peak below ``saturation_fraction`` x SATURATE,
    FWHM within ``fwhm_tolerance`` of the seeing, elongation below 1 +
    ``fwhm_tolerance``, more than psfrad from the edges, measured by PHOT, and
    no neighbour brighter than (its magnitude + ``isolation_delta_mag``) within
    psfrad. Returns the NUMBERs of at most ``n_stars`` of them, brightest first.
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
    measured = np.asarray(phot["NUMBER"])[~np.ma.getmaskarray(phot["MAG"])]
    good &= np.isin(np.asarray(det["NUMBER"]), measured)
    tree = cKDTree(np.column_stack([x, y]))
    for i in np.flatnonzero(good):
        neighbours = [j for j in tree.query_ball_point((x[i], y[i]), psfrad_pix) if j != i]
        if neighbours and np.min(mag[neighbours]) < mag[i] + config["isolation_delta_mag"]:
            good[i] = False
    chosen = np.flatnonzero(good)
    chosen = chosen[np.argsort(mag[chosen])][:config["n_stars"]]
    return np.asarray(det["NUMBER"])[chosen]
