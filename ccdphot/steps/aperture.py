"""``aperture`` step: DAOPHOT PHOT (IRAF, through PyRAF) on the detection list.

One PHOT call measures every star of the detection list (rows align by
NUMBER: IRAF's photometry IDs follow the coordinate file) in the apertures of
``[aperture]`` (pixels, or multiples of the seeing FWHM). The first aperture
replaces SExtractor's MAG_APER/MAGERR_APER. The PHOT file is kept in ``work/``
and reused by the psf step as ALLSTAR's input.

Neighbour subtraction (``[aperture] subtract_neighbours``) needs every star's
fitted PSF model, so the psf step calls :func:`measure_without_neighbours`
after ALLSTAR: it replaces MAG_APER by the aperture magnitude on the frame with
all *other* stars subtracted.
"""

import logging
import math

import numpy as np
from astropy.io import fits
from astropy.table import Table
from photutils.aperture import CircularAperture, aperture_photometry

from ..daophot_frame import (COORDS_FILE, frame_psets, seeing_fwhm_pix, star_list, with_numbers,
                             write_coords)
from ..daophot_files import read_iraf_daophot
from ..table import fill_by_number
from ..wrappers import daophot

log = logging.getLogger(__name__)

PHOT_FILE = "aperture.mag"
RESIDUAL_PHOT_FILE = "aperture_residual.mag"
MODEL_BLANK = "psf_model_blank.fits"
MODEL_STAR = "psf_model_star.pst"
MODEL_IMAGE = "psf_model_star.fits"
_MAG_PER_LN = 2.5 / math.log(10.0)


def aperture_layer(config, fwhm_pix):
    """PHOT parameters from ``[aperture]``: radii and sky annulus in pixels."""
    radii = list(config["radii_pix"]) or [r * fwhm_pix for r in config["radii_fwhm"]]
    inner = config["sky_inner_fwhm"] * fwhm_pix
    return {"photpars": {"apertures": [round(r, 2) for r in radii]},
            "fitskypars": {"annulus": round(max(inner, max(radii) + 1.0), 2),
                           "dannulus": round(max(config["sky_width_fwhm"] * fwhm_pix, 3.0), 2)}}


def run(ctx):
    fwhm = seeing_fwhm_pix(ctx)
    stars = star_list(ctx)
    psets = frame_psets(ctx, fwhm, aperture_layer(ctx.config["aperture"], fwhm))
    tool = ctx.tools.use("iraf")
    coords = write_coords(ctx, stars)
    done = daophot.run(tool, ctx.work_dir, "aperture", psets,
                       [daophot.phot_call(ctx.image_name, coords, PHOT_FILE)], expect=[PHOT_FILE])
    phot = with_numbers(read_iraf_daophot(ctx.work_dir / PHOT_FILE), stars)
    radii = daophot.aperture_radii(psets)
    n_filled = fill_by_number(ctx.table, phot, {"MAG_APER": "MAG", "MAGERR_APER": "MERR"})
    n_measured = int((~ctx.table["MAG_APER"].mask).sum())
    ctx.table.meta["MAG_APER_SOURCE"] = f"DAOPHOT PHOT (IRAF), radius {radii[0]:g} pix"
    ctx.details["aperture"] = {
        "photfile": PHOT_FILE, "n_stars": len(stars),
        "apertures_pix": radii,
        "sky_annulus_pix": [psets["fitskypars"]["annulus"], psets["fitskypars"]["dannulus"]],
        "iraf_seconds": round(done.seconds, 2)}
    ctx.qc["aperture_n_measured"] = n_measured
    log.info("DAOPHOT PHOT: %d of %d stars measured in %s", n_measured, n_filled,
             ctx.table.meta["MAG_APER_SOURCE"])
    return {"n_stars": len(stars), "n_measured": n_measured,
            "aperture_radius_pix": radii[0], "seconds_iraf": round(done.seconds, 2)}


def measure_without_neighbours(ctx, tool, psets, stars, psf_model, residual_image, allstar):
    """MAG_APER with every *other* star's ALLSTAR model subtracted first.

    The frame minus all models except star i's is the residual frame plus star
    i's own model, so star i's aperture flux is PHOT's flux on the residual
    frame (its sky measured there too, free of neighbours) plus the flux of its
    model in the aperture: 10**(-0.4 (MAG_PSF - PSFMAG)) times the aperture flux
    of a PSFMAG star's model (SUBSTAR of one such star at the PSF centre from a
    blank frame, i.e. exactly the model ALLSTAR subtracts; summed over the
    exact circle by photutils, which agrees with PHOT's sum to 0.2 %; the PSF
    variability across the frame is neglected here). Stars
    ALLSTAR did not fit are only freed of their neighbours. Errors follow
    PHOT's formula (photon noise of the star, sky noise over the aperture and
    of the sky mean). Returns the number of stars measured.
    """
    model = daophot.read_psf_header(ctx.work_dir / psf_model)
    x_ref, y_ref, psfmag = float(model["x_pix"]), float(model["y_pix"]), float(model["psfmag"])
    fits.writeto(ctx.work_dir / MODEL_BLANK, np.zeros(ctx.shape, np.float32), overwrite=True)
    daophot.write_pst(ctx.work_dir / MODEL_STAR, [1], [x_ref], [y_ref], [psfmag], [0.0])
    calls = [daophot.substar_call(MODEL_BLANK, MODEL_STAR, "", psf_model, MODEL_IMAGE),
             daophot.phot_call(residual_image, COORDS_FILE, RESIDUAL_PHOT_FILE)]
    daophot.run(tool, ctx.work_dir, "aperture_neighbours", psets, calls,
                expect=[MODEL_IMAGE, RESIDUAL_PHOT_FILE])
    residual = with_numbers(read_iraf_daophot(ctx.work_dir / RESIDUAL_PHOT_FILE), stars)
    radius = daophot.aperture_radii(psets)[0]
    # SUBSTAR subtracted the model from zeros: the model is minus that image
    psf_aperture_flux = -float(aperture_photometry(
        fits.getdata(ctx.work_dir / MODEL_IMAGE).astype(float),
        CircularAperture((x_ref - 1.0, y_ref - 1.0), radius), method="exact")["aperture_sum"][0])
    for name in (MODEL_BLANK, MODEL_IMAGE):  # two frame-sized images of no further use
        (ctx.work_dir / name).unlink()

    def first(table, name):
        column = table[f"{name}1"] if f"{name}1" in table.colnames else table[name]
        return np.ma.filled(np.ma.asarray(column, dtype=float), np.nan)

    mag_psf = {int(n): float(m) for n, m in zip(allstar["NUMBER"], first(allstar, "MAG"))}
    own_mag = np.array([mag_psf.get(int(n), np.nan) for n in residual["NUMBER"]])
    own = np.where(np.isfinite(own_mag), psf_aperture_flux * 10 ** (-0.4 * (own_mag - psfmag)), 0)
    flux = first(residual, "FLUX") + own
    area = first(residual, "AREA")
    sky_sigma = np.ma.filled(np.ma.asarray(residual["SKY_SIGMA"], dtype=float), np.nan)
    n_sky = np.ma.filled(np.ma.asarray(residual["NSKY"], dtype=float), np.nan)
    epadu = float(psets["datapars"]["epadu"])
    with np.errstate(invalid="ignore", divide="ignore"):
        variance = flux / epadu + area * sky_sigma ** 2 + area ** 2 * sky_sigma ** 2 / n_sky
        good = (flux > 0) & np.isfinite(variance)
        mag = np.where(good, float(psets["photpars"]["zmag"]) - 2.5 * np.log10(flux), np.nan)
        err = np.where(good, _MAG_PER_LN * np.sqrt(variance) / flux, np.nan)
    result = Table({"NUMBER": residual["NUMBER"], "MAG": mag, "MERR": err})
    n_measured = fill_by_number(ctx.table, result, {"MAG_APER": "MAG", "MAGERR_APER": "MERR"})
    ctx.table.meta["MAG_APER_SOURCE"] = (
        f"DAOPHOT PHOT (IRAF), radius {radius:g} pix, on the frame with the ALLSTAR models of "
        "all other stars subtracted")
    n_good = int(good.sum())
    log.info("neighbour-subtracted aperture photometry: %d of %d stars (PSF aperture "
             "flux %.1f ADU at PSFMAG %.3f)", n_good, n_measured, psf_aperture_flux, psfmag)
    return n_good
