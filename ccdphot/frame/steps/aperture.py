"""``aperture`` step: DAOPHOT PHOT (IRAF, through PyRAF) on the detection list.

One PHOT call measures every star of the detection list (rows align by
NUMBER: IRAF's photometry IDs follow the coordinate file) in the apertures of
``[aperture]`` (pixels, or multiples of the seeing FWHM). The first aperture
replaces SExtractor's MAG_APER/MAGERR_APER. The PHOT file is kept in ``work/``
and reused by the psf step as ALLSTAR's input.

Neighbour subtraction (``[aperture] subtract_neighbours``) needs every star's
fitted PSF model, so the psf step does it after ALLSTAR (see
:func:`ccdphot.frame.steps.daophot_support.measure_without_neighbours`).
"""

import logging

from ccdphot.daophot.psets import aperture_layer, aperture_radii
from ccdphot.frame.steps.daophot_support import (
    APERTURE_PHOT_MEMO,
    coords_file,
    frame_psets,
    seeing_fwhm_pix,
    star_list,
    with_numbers,
)
from ccdphot.frame.table import fill_by_number
from ccdphot.wrappers import daophot

log = logging.getLogger(__name__)

PHOT_FILE = "aperture.mag"


def run(ctx):
    fwhm = seeing_fwhm_pix(ctx)
    stars = star_list(ctx)
    psets = frame_psets(ctx, fwhm, aperture_layer(ctx.config["aperture"], fwhm))
    tool = ctx.tools.use("iraf")
    coords = coords_file(ctx, stars)
    done = daophot.Job(tool, ctx.work_dir, name="aperture", psets=psets,
                       calls=(daophot.phot_call(ctx.image_name, coords, PHOT_FILE),),
                       expect=(PHOT_FILE,), catalog=PHOT_FILE).run()
    phot = with_numbers(done.table, stars)
    ctx.memo[APERTURE_PHOT_MEMO] = phot
    radii = aperture_radii(psets)
    n_filled = fill_by_number(ctx.table, phot, {"MAG_APER": "MAG", "MAGERR_APER": "MERR"})
    n_measured = int((~ctx.table["MAG_APER"].mask).sum())
    ctx.table.meta["MAG_APER_SOURCE"] = f"DAOPHOT PHOT (IRAF), radius {radii[0]:g} pix"
    ctx.details["aperture"] = {
        "photfile": PHOT_FILE, "n_stars": len(stars),
        "apertures_pix": radii,
        "sky_annulus_pix": [psets["fitskypars"]["annulus"], psets["fitskypars"]["dannulus"]],
        "iraf_seconds": round(done.run.seconds, 2)}
    ctx.qc["aperture_n_measured"] = n_measured
    log.info("DAOPHOT PHOT: %d of %d stars measured in %s", n_measured, n_filled,
             ctx.table.meta["MAG_APER_SOURCE"])
    return {"n_stars": len(stars), "n_measured": n_measured,
            "aperture_radius_pix": radii[0], "seconds_iraf": round(done.run.seconds, 2)}
