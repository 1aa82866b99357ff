"""The solver chain: a WCS for a frame, checked against a reference catalogue.

:func:`solve_frame` runs it: usable detections -> a first guess
(:mod:`ccdphot.astrometry.guess`) -> the reference stars around it -> the
initial solution (triangle pattern match, then a linear TAN fit) -> the
refinement (``[astrometry] refine``: SCAMP, IRAF ccmap, WCSTools imwcs, each a
wrapper job checked by its own figures, or ccdphot's own TAN + SIP ``fit``)
-> acceptance: the solution matched to the reference once more and checked
by the same :class:`~ccdphot.wrappers.base.Acceptance` as the tools.

Takes and returns astropy objects; a failure raises
:class:`~ccdphot.errors.AstrometryError` (a rejected solution
:class:`~ccdphot.errors.SolutionRejected`), and no reference at hand
:class:`~ccdphot.errors.CatalogError`.
"""

import logging
from dataclasses import dataclass

import numpy as np
from astropy import units as u
from astropy.table import Table
from astropy.wcs import WCS
from ccdphot.wrappers import ccmap, scamp, wcstools
from ccdphot.wrappers.base import Acceptance

from ccdphot import catalogs
from ccdphot.astrometry import wcsfit
from ccdphot.astrometry.guess import first_guess
from ccdphot.astrometry.starmatch import pattern_match
from ccdphot.errors import AstrometryError, CatalogError, ConfigError

log = logging.getLogger(__name__)

REFINERS = ("scamp", "ccmap", "imwcs", "fit")
INITIAL_METHODS = ("header", "blind")
# Reference magnitudes used to rank stars by brightness, in order of preference.
_RANK_BANDS = ("G", "R", "r", "V", "I", "i", "RP", "BP", "B", "g", "J")


@dataclass(frozen=True)
class Solution:
    """An accepted WCS, how it was found (``initial`` guess, ``solver``), its
    quality against the reference (measured by ccdphot) and the solver's figures."""

    wcs: WCS
    initial: str
    solver: str
    quality: wcsfit.FitQuality
    reference: Table
    solver_figures: dict

    @property
    def how(self):
        """E.g. ``header-pointing+scamp``."""
        return f"{self.initial}+{self.solver}"


def check_config(cfg):
    """ConfigError for an ``[astrometry]`` table the chain cannot run."""
    if cfg["refine"] not in REFINERS:
        raise ConfigError(f"[astrometry] refine = {cfg['refine']!r} is not one of "
                          f"{', '.join(REFINERS)}")
    unknown = [m for m in cfg["initial"] if m not in INITIAL_METHODS]
    if unknown or not cfg["initial"]:
        raise ConfigError(f"[astrometry] initial = {list(cfg['initial'])!r}: give a list of "
                          f"{', '.join(INITIAL_METHODS)}")
    if not 1 <= cfg["ccmap_order"] <= 4:
        raise ConfigError(f"[astrometry] ccmap_order = {cfg['ccmap_order']}: give 1 to 4")


def usable_stars(detections):
    """Detections fit for astrometry, brightest first: x_pix, y_pix (FITS pixels) added.

    Windowed centroids are used when SExtractor measured them. Detections
    with FLAGS 4 and above (saturated, truncated, corrupted) are left out;
    crowded and blended ones (1, 2) are kept.
    """
    if detections is None:
        raise AstrometryError("the astrometry step needs the detect step's detections; "
                              "run it with the detect step")
    x_col = "XWIN_IMAGE" if "XWIN_IMAGE" in detections.colnames else "X_IMAGE"
    y_col = "YWIN_IMAGE" if "YWIN_IMAGE" in detections.colnames else "Y_IMAGE"
    flux = np.asarray(detections["FLUX_AUTO"], float)
    flags = np.asarray(detections["FLAGS"])
    good = (flux > 0) & ((flags & ~0x3) == 0) & np.isfinite(np.asarray(detections[x_col], float))
    index = np.flatnonzero(good)[np.argsort(-flux[good])]
    table = detections[index]
    table["x_pix"] = np.asarray(detections[x_col], float)[index]
    table["y_pix"] = np.asarray(detections[y_col], float)[index]
    return table


def rank_band(reference):
    """The reference band used to rank stars by brightness (None: keep the order)."""
    return next((b for b in _RANK_BANDS if b in reference.colnames), None)


def solve_frame(detections, header, header_wcs, shape, config, tools, work_dir, image_name,
                refcat=None, name="frame"):
    """An accepted :class:`Solution` for a frame.

    ``header``/``header_wcs``/``shape`` describe the working image
    ``image_name`` in ``work_dir``; ``config`` is the whole configuration
    (``[astrometry]`` and the catalogue settings), ``tools`` the tool registry,
    ``refcat`` a local reference file, ``name`` the frame in messages.
    """
    cfg = config["astrometry"]
    stars = usable_stars(detections)
    if len(stars) < cfg["min_matches"]:
        raise AstrometryError(f"{name}: only {len(stars)} usable detections, fewer than "
                              f"[astrometry] min_matches={cfg['min_matches']}; no WCS can be "
                              "fitted")
    guess, how = first_guess(header, header_wcs, shape, cfg, stars, tools, work_dir, name)
    reference = reference_stars(guess, shape, header, config, refcat)
    initial = initial_solution(stars, reference, guess, shape, cfg, f"{name}: {how} guess")
    wcs, solver_figures = refine(stars, reference, initial, cfg, shape=shape, header=header,
                                 tools=tools, work_dir=work_dir, image_name=image_name)
    quality = final_quality(cfg, wcs, stars, reference)
    accept(quality, wcsfit.pixel_scale_arcsec(wcs), cfg, f"{name}: {cfg['refine']}")
    return Solution(wcs, how, cfg["refine"], quality, reference, solver_figures)


def reference_stars(guess, shape, header, config, refcat=None):
    """Reference stars around the field of ``guess``, brightest first.

    Raises :class:`CatalogError` when none is at hand (the reason is the message).
    """
    cfg = config["astrometry"]
    center, radius = catalogs.frame_region(guess, shape)
    radius = radius + cfg["pointing_tolerance_arcmin"] * u.arcmin
    table = catalogs.get_reference(center, radius, catalogs=list(cfg["catalogs"]) or None,
                                   epoch=catalogs.frame_epoch(header), config=config,
                                   refcat=refcat)
    if len(table) == 0:
        raise CatalogError(f"the reference catalogue has no star within {radius:.3f} of "
                           f"{center.to_string('hmsdms')}")
    band = rank_band(table)
    if band is not None:
        mags = np.ma.filled(np.ma.asarray(table[band], float), np.inf)
        table = table[np.argsort(mags, kind="stable")]
    log.info("reference: %d stars from %s within %.3f deg", len(table),
             table.meta.get("catalog", "the catalogue"), radius.to_value(u.deg))
    return table


def _xy(stars):
    return np.column_stack([stars["x_pix"], stars["y_pix"]])


def _sky(reference):
    return wcsfit.on_sky(reference["ra"], reference["dec"])


def initial_solution(stars, reference, guess, shape, cfg, name):
    """Pattern-match the brightest stars, then a linear fit: (wcs, i_star, i_ref)."""
    sky = _sky(reference)
    xy = _xy(stars)
    ref_pix = np.column_stack(guess.all_world2pix(sky.ra.deg, sky.dec.deg, 1))
    margin = cfg["pointing_tolerance_arcmin"] * 60.0 / wcsfit.pixel_scale_arcsec(guess)
    height, width = shape
    inside = ((ref_pix[:, 0] > -margin) & (ref_pix[:, 0] < width + margin)
              & (ref_pix[:, 1] > -margin) & (ref_pix[:, 1] < height + margin)
              & np.isfinite(ref_pix).all(axis=1))
    n_ref_frame = int(((ref_pix[:, 0] > 0) & (ref_pix[:, 0] < width) & (ref_pix[:, 1] > 0)
                       & (ref_pix[:, 1] < height)).sum())
    n_stars = int(min(cfg["pattern_stars"], max(2 * n_ref_frame, 10), len(xy)))
    area_ratio = (width + 2 * margin) * (height + 2 * margin) / (width * height)
    n_refs = int(min(inside.sum(), max(n_stars, 10) * area_ratio * 1.5))
    ref_idx = np.flatnonzero(inside)[:n_refs]
    min_votes = min(cfg["min_matches"], max(5, n_stars // 4))
    match = pattern_match(xy[:n_stars], ref_pix[ref_idx], scale=1.0,
                          scale_tolerance=cfg["scale_tolerance"],
                          radius=cfg["match_radius_pix"], min_votes=min_votes)
    if match is None:
        raise AstrometryError(
            f"{name}: no pattern of the {n_stars} brightest stars matches the "
            f"{len(ref_idx)} reference stars near it (at least {min_votes} stars must "
            "agree); check the pointing keywords and the pixel scale "
            f"({wcsfit.pixel_scale_arcsec(guess):.4g} arcsec/pix used)")
    log.info("pattern match: %d of %d bright stars agree (rotation %.2f deg, scale x%.4f%s)",
             match.n_votes, n_stars, match.transform.angle_deg, match.transform.scale,
             ", flipped" if match.transform.flipped else "")
    # detections -> guess pixels -> sky, then a linear TAN fit to all matches
    moved = match.transform.apply(xy)
    ra, dec = guess.all_pix2world(moved[:, 0], moved[:, 1], 1)
    start = wcsfit.fit_wcs(xy[:n_stars], wcsfit.on_sky(ra[:n_stars], dec[:n_stars]))
    radius = cfg["match_radius_pix"] * wcsfit.pixel_scale_arcsec(guess)
    wcs, i_star, i_ref = wcsfit.match_and_fit(xy, sky, start, radius, sip_degree=0)
    if len(i_star) < cfg["min_matches"]:
        raise AstrometryError(f"{name}: only {len(i_star)} stars match the reference after "
                              f"the pattern match (min_matches={cfg['min_matches']})")
    return wcs, i_star, i_ref


def refine(stars, reference, initial, cfg, shape, header, tools, work_dir, image_name):
    """The ``cfg["refine"]`` solver from ``initial``: (wcs, the solver's figures).

    A tool's solution is checked by its own figures (:class:`Acceptance` of
    ``min_matches`` and ``max_rms_pix``) before it is returned.
    """
    solver = cfg["refine"]
    wcs0, i_star, i_ref = initial
    xy, sky = _xy(stars), _sky(reference)
    scale = wcsfit.pixel_scale_arcsec(wcs0)
    if solver == "fit":
        wcs, _, _ = wcsfit.match_and_fit(xy, sky, wcs0, cfg["match_radius_pix"] * scale / 2.0,
                                         cfg["sip_degree"])
        return wcs, {"sip_degree": wcs.sip.a_order if wcs.sip is not None else 0}
    acceptance = Acceptance(cfg["min_matches"], cfg["max_rms_pix"])
    if solver == "scamp":
        job = scamp.Job(tools.use("scamp"), work_dir, acceptance=acceptance, stars=stars,
                        header=header, wcs=wcs0, reference=reference, band=rank_band(reference),
                        distort_degrees=_degree(len(i_star), cfg["scamp_distort_degrees"],
                                                "SCAMP"),
                        crossid_radius_arcsec=cfg["match_radius_pix"] * scale)
    elif solver == "ccmap":
        job = ccmap.Job(tools.use("iraf"), work_dir, acceptance=acceptance, xy=xy[i_star],
                        sky=sky[i_ref], shape=shape,
                        degree=_degree(len(i_star), cfg["ccmap_order"], "ccmap"))
    else:
        job = wcstools.Job(tools.use("imwcs"), work_dir, acceptance=acceptance,
                           image_name=image_name, wcs=wcs0, header=header, stars=stars,
                           reference=reference, band=rank_band(reference))
    result = job.run()
    return result.wcs, {"n_matched": result.n_matched,
                        "rms_arcsec": round(result.rms_arcsec, 4), **result.figures}


def _degree(n_stars, asked, solver):
    """The polynomial degree ``n_stars`` matched stars constrain, at most ``asked``."""
    degree = wcsfit.affordable_degree(n_stars, asked)
    if degree < asked:
        log.warning("%s: %d matched stars constrain a polynomial of degree %d only "
                    "(asked for %d)", solver, n_stars, degree, asked)
    return degree


def final_quality(cfg, wcs, stars, reference):
    """Match the refined WCS to the reference once more and measure the residuals."""
    xy, sky = _xy(stars), _sky(reference)
    radius = 2.0 * cfg["max_rms_pix"] * wcsfit.pixel_scale_arcsec(wcs)
    i_star, i_ref = wcsfit.match_with_wcs(wcs, xy, sky, radius)
    return wcsfit.quality(wcs, xy[i_star], sky[i_ref])


def accept(quality, scale_arcsec, cfg, label):
    """Raise :class:`~ccdphot.errors.SolutionRejected` (``label``: frame and solver)
    when ccdphot's own measure of a solution misses the thresholds."""
    Acceptance(cfg["min_matches"], cfg["max_rms_pix"]).check(
        label, quality.n_matched, max(quality.rms_ra_arcsec, quality.rms_dec_arcsec),
        scale_arcsec, quality.as_dict())
