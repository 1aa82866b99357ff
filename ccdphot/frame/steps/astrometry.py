"""``astrometry`` step: a WCS for the frame, checked against a reference catalogue.

The solver chain (``[astrometry]``: initial guess from the header or blind,
triangle pattern match, refinement by SCAMP, ccmap, imwcs or ccdphot's own
fit, acceptance by matched stars and RMS) is :mod:`ccdphot.astrometry.solve`.
This step hands it the frame, writes an accepted solution into the working
copy's header, and records the figures. A rejected solution is never
written; without a reference catalogue (offline, nothing cached, no
``--refcat``) or with a rejected solution, a usable header WCS is kept,
flagged as unrefined (``keep_header_wcs``).
"""

import logging

from astropy.io import fits

from ccdphot.astrometry import wcsfit
from ccdphot.astrometry.guess import usable_wcs
from ccdphot.astrometry.residuals import RESIDUALS_TABLE, residual_table
from ccdphot.astrometry.solve import check_config, solve_frame
from ccdphot.errors import AstrometryError, CatalogError
from ccdphot.products import write_fits_atomic, write_table_atomic

log = logging.getLogger(__name__)


def run(ctx):
    cfg = ctx.config["astrometry"]
    check_config(cfg)
    try:
        solution = solve_frame(ctx.detections, ctx.header, ctx.wcs, ctx.shape, ctx.config,
                               ctx.tools, ctx.work_dir, ctx.image_name,
                               refcat=ctx.options.get("refcat"), name=ctx.input_path.name)
    except CatalogError as err:
        return _keep_header_wcs(ctx, str(err))
    except AstrometryError as err:
        if cfg["keep_header_wcs"] and usable_wcs(ctx.wcs) is not None:
            return _keep_header_wcs(ctx, str(err))
        raise
    write_solution(ctx, solution.wcs)
    write_table_atomic(residual_table(solution.wcs, ctx.detections, solution.reference,
                                      cfg["max_rms_pix"]),
                       ctx.work_dir / RESIDUALS_TABLE, format="ascii.ecsv")
    quality = solution.quality
    figures = {"solver": solution.how, **quality.as_dict(),
               "pixel_scale_arcsec": round(wcsfit.pixel_scale_arcsec(solution.wcs), 5),
               "n_reference": len(solution.reference), "wcs_refined": True}
    ctx.qc.update({"wcs_refined": True, "astrometry_solver": solution.how,
                   "astrometry_n_matched": quality.n_matched,
                   "astrometry_rms_ra_arcsec": figures["rms_ra_arcsec"],
                   "astrometry_rms_dec_arcsec": figures["rms_dec_arcsec"]})
    ctx.details["astrometry"] = {**figures, "initial": solution.initial,
                                 "solver_figures": solution.solver_figures,
                                 "reference": solution.reference.meta.get("catalog", "")}
    return figures


def _keep_header_wcs(ctx, why):
    """No reference or no acceptable solution: keep a usable header WCS, unrefined."""
    if usable_wcs(ctx.wcs) is None or not ctx.config["astrometry"]["keep_header_wcs"]:
        raise AstrometryError(f"{ctx.input_path.name}: no astrometric solution ({why}); "
                              "give --refcat FILE or go online")
    log.warning("header WCS kept, NOT refined: %s", why)
    ctx.qc["wcs_refined"] = False
    ctx.details["astrometry"] = {"wcs_refined": False, "solver": "header (unrefined)",
                                 "reason": why}
    # "applied": False marks the step as skipped in run.json and the frame status.
    return {"applied": False, "solver": "header (unrefined)", "wcs_refined": False,
            "reason": f"header WCS kept, not refined: {why}"}


def write_solution(ctx, wcs):
    """Put ``wcs`` into the working header and rewrite the working copy."""
    ctx.header = wcsfit.replace_wcs(ctx.header, wcs)
    data = fits.getdata(ctx.image_path)
    write_fits_atomic(ctx.image_path, data, ctx.header)
    ctx.wcs = wcs
