"""Calibrate a frame's instrumental magnitudes on a standard band.

:func:`calibrate` takes the unified table (astropy Table with sky positions
and an instrumental magnitude), a reference table in the catalogue schema and
the frame's standard band, and returns a :class:`Calibration`: the fit, the
calibrated magnitude, its error and a flag for every row, and the figures a
calibrated frame reports. Steps:

1. the catalogue magnitude in the standard band: the catalogue's own, or a
   published transformation (:mod:`ccdphot.zeropoint.transforms`);
2. one-to-one matching within a radius chosen from the astrometry; stars whose
   frame neighbours within ``isolation_arcsec`` add more than ``max_contamination``
   of their flux are left out (the catalogue's photometry has them blended);
3. error floors: a catalogue error below ``error_floor_mag`` is raised to it, a
   missing one becomes ``missing_error_mag``;
4. the fit of :mod:`ccdphot.zeropoint.fit` (colour term fitted, or fixed);
5. ``MAG_CAL = instrumental + ZP + k * colour`` and ``MAGERR_CAL`` = instrumental
   error, the error of ``ZP + k * colour`` from the fit covariance, ``k`` times
   the colour error and the intrinsic scatter, in quadrature. A star without a
   catalogue colour gets the median colour of the calibration stars, their
   colour spread in its error, and the flag ``NO_COLOUR``.
"""

import logging
from dataclasses import dataclass, field

import numpy as np
from astropy import units as u

from ccdphot.catalogs.schema import error_name
from ccdphot.errors import ZeroPointError
from ccdphot.zeropoint import bands, matching, transforms
from ccdphot.zeropoint.fit import fit_zero_point
from ccdphot.zeropoint.limits import limiting_magnitude
from ccdphot.zeropoint.quality import verdict

log = logging.getLogger(__name__)

# FLAGS_CAL bits
NO_COLOUR = 1  # no catalogue colour: median colour of the calibration stars assumed
OUT_OF_RANGE = 2  # catalogue colour outside the transformation's validity range
USED = 4  # used in the zero-point fit
REJECTED = 8  # matched and usable, rejected by the fit as an outlier
BLENDED = 16  # neighbours within isolation_arcsec add more than max_contamination of its flux


@dataclass
class Calibration:
    """What :func:`calibrate` found: per-row results, the matched stars, the figures."""

    mag_cal: np.ndarray
    magerr_cal: np.ndarray
    flags: np.ndarray
    figures: dict
    transformation: object
    stars: dict = field(default_factory=dict)  # arrays of the fitted stars, for the QC plot
    fit: object = None


def catalogue_magnitudes(reference, band, candidates):
    """(magnitude, error, inside validity, transformation or None) of ``band`` per row."""
    available = [b for b in bands.SYSTEMS if b in reference.colnames
                 and (~np.ma.getmaskarray(reference[b])).any()]
    if band in available:
        mag = np.ma.filled(np.ma.asarray(reference[band], float), np.nan)
        err_name = error_name(band)
        err = (np.ma.filled(np.ma.asarray(reference[err_name], float), np.nan)
               if err_name in reference.colnames else np.full(len(mag), np.nan))
        return mag, err, np.ones(len(mag), bool), None
    route = transforms.find(band, available, candidates)
    if route is None:
        raise ZeroPointError(
            f"reference {reference.meta.get('catalog', '')} has no {band} band and no published "
            f"transformation gives {band} from its bands ({', '.join(available) or 'none'}); "
            "use a catalogue with the band or one of "
            f"{', '.join(t.name for t in transforms.TRANSFORMATIONS if t.target == band) or 'none'}")
    mag, err, inside = route.apply(reference)
    return mag, err, inside, route


def _colour_values(reference, pair, rows):
    first = np.ma.filled(np.ma.asarray(reference[pair[0]][rows], float), np.nan)
    second = np.ma.filled(np.ma.asarray(reference[pair[1]][rows], float), np.nan)
    errors = [np.ma.filled(np.ma.asarray(reference[error_name(b)][rows], float), np.nan)
              if error_name(b) in reference.colnames else np.full(len(rows), np.nan)
              for b in pair]
    return first - second, np.hypot(*errors)


def floored_errors(error, floor, missing):
    """Catalogue errors with a floor; missing (NaN) or zero errors become ``missing``."""
    error = np.asarray(error, float)
    return np.where(np.isfinite(error) & (error > 0), np.maximum(error, floor), missing)


def calibrate(table, column, reference, band, settings, pixel_scale_arcsec,
              astrometric_rms_arcsec=None, colour_term=None):
    """Calibrate ``table[column]`` on ``band`` against ``reference``; a :class:`Calibration`.

    ``settings`` is ``[zeropoint]``; ``colour_term`` fixes k (a telescope's known
    colour term) instead of fitting it. Raises ZeroPointError when the frame cannot
    be calibrated (no overlap, too few usable stars, no route to the band).
    """
    error_column = f"MAGERR{column[3:]}"
    candidates = transforms.preference(settings["transformations"])
    cat_mag, cat_err, inside, route = catalogue_magnitudes(reference, band, candidates)
    configured = bands.parse_colour(settings["colours"].get(band, settings["colour"]))
    available = [b for b in bands.SYSTEMS if b in reference.colnames]
    pair = bands.choose_colour(band, available, configured)
    if configured and pair is None:
        raise ZeroPointError(f"colour {'-'.join(configured)} for {band}: reference "
                             f"{reference.meta.get('catalog', '')} lacks a band of it")

    inst_all = np.ma.filled(np.ma.asarray(table[column], float), np.nan)
    inst_err_all = np.ma.filled(np.ma.asarray(table[error_column], float), np.nan)
    positioned = ~(np.ma.getmaskarray(table["ALPHA_J2000"]) | ~np.isfinite(inst_all))
    rows = np.flatnonzero(positioned)
    stars = matching.sky(table["ALPHA_J2000"][rows], table["DELTA_J2000"][rows])
    refs = matching.sky(reference["ra"], reference["dec"])
    radius = settings["match_radius_arcsec"]
    how = "[zeropoint] match_radius_arcsec"
    if radius <= 0:
        radius, how = matching.choose_radius(stars, refs, pixel_scale_arcsec,
                                             astrometric_rms_arcsec)
    i_star, i_ref, _ = matching.match_one_to_one(stars, refs, radius * u.arcsec)
    if len(i_star) == 0:
        raise ZeroPointError(f"no star of the frame is within {radius:.2f} arcsec of a "
                             f"{reference.meta.get('catalog', '')} star: the catalogue does "
                             "not overlap the frame, or the WCS is wrong")
    matched = rows[i_star]
    inst, inst_err = inst_all[matched], inst_err_all[matched]
    ref_mag, ref_err = cat_mag[i_ref], cat_err[i_ref]
    if pair is not None:
        colour, colour_err = _colour_values(reference, pair, i_ref)
    else:
        colour, colour_err = np.zeros(len(i_ref)), np.zeros(len(i_ref))
    flags_table = np.ma.filled(table["FLAGS"][matched], 0) if "FLAGS" in table.colnames \
        else np.zeros(len(matched), int)
    good_flags = flags_table <= settings["max_flags"]
    measured = np.isfinite(inst) & np.isfinite(inst_err) & (inst_err <= settings["max_error_mag"])
    known = np.isfinite(ref_mag) & ~(np.isfinite(ref_err) & (ref_err > settings["max_error_mag"]))
    blended = np.zeros(len(rows), bool)
    if settings["isolation_arcsec"] > 0:
        light = matching.contamination(stars, inst_all[rows],
                                       settings["isolation_arcsec"] * u.arcsec)
        blended = light > settings["max_contamination"]
    isolated = ~blended[i_star]
    usable = measured & known & good_flags & inside[i_ref] & np.isfinite(colour) & isolated
    if usable.sum() < max(settings["min_stars"], 3):
        raise ZeroPointError(_too_few(usable, measured, known, good_flags, inside[i_ref],
                                      colour, isolated, len(matched), reference, band,
                                      settings))
    term_note = "fixed" if colour_term is not None else "fitted"
    too_few_for_term = usable.sum() < settings["min_stars_colour_term"]
    if pair is not None and colour_term is None and too_few_for_term:
        colour_term = 0.0
        term_note = (f"held at 0: {int(usable.sum())} usable stars, fewer than "
                     f"[zeropoint] min_stars_colour_term = {settings['min_stars_colour_term']}")
        log.warning("colour term %s", term_note)
    used_err = floored_errors(ref_err[usable], settings["error_floor_mag"],
                              settings["missing_error_mag"])
    fit = fit_zero_point(ref_mag[usable] - inst[usable], np.hypot(inst_err[usable], used_err),
                         colour[usable] if pair is not None else None,
                         np.nan_to_num(colour_err[usable]) if pair is not None else None,
                         colour_term=colour_term, clip_sigma=settings["clip_sigma"],
                         iterations=settings["clip_iterations"])
    cal = _apply(fit, inst_all, inst_err_all, matched, colour, colour_err, usable, pair)
    flags = cal[2]
    flags[matched[~inside[i_ref]]] |= OUT_OF_RANGE
    flags[rows[blended]] |= BLENDED
    fitted = matched[usable]
    flags[fitted[fit.kept]] |= USED
    flags[fitted[~fit.kept]] |= REJECTED
    n_usable = int(usable.sum())
    outliers = fit.n_rejected / n_usable
    zp_colour = float(np.median(colour[usable][fit.kept])) if pair is not None else 0.0
    limit, limit_how = limiting_magnitude(inst_all + fit.offset(zp_colour), inst_err_all)
    quality, reasons = verdict(fit.n_used, fit.scatter, outliers, fit.zp_error,
                               settings["quality"])
    figures = {
        "zp_mag": round(fit.zp, 4), "zp_error_mag": round(fit.zp_error, 4),
        "zp_band": band, "zp_system": bands.SYSTEMS[band],
        "zp_catalog": reference.meta.get("catalog", ""),
        "zp_transformation": route.name if route is not None else "none",
        "zp_colour": "-".join(pair) if pair is not None else "none",
        "zp_colour_term": round(fit.colour_term, 4),
        "zp_colour_term_error": round(fit.colour_term_error, 4),
        "zp_colour_term_fixed": bool(colour_term is not None),
        "zp_colour_term_from": term_note if pair is not None else "no colour",
        "zp_intrinsic_scatter_mag": round(fit.intrinsic_scatter, 4),
        "zp_scatter_mag": round(fit.scatter, 4),
        "zp_n_stars": fit.n_used, "zp_n_rejected": fit.n_rejected,
        "zp_outlier_fraction": round(outliers, 3),
        "zp_n_matched": int(len(matched)), "zp_n_usable": n_usable,
        "zp_match_radius_arcsec": round(float(radius), 3), "zp_match_radius_from": how,
        "zp_limit_5sigma_mag": None if limit is None else round(limit, 3),
        "zp_limit_method": limit_how,
        "zp_quality": quality, "zp_quality_reasons": reasons,
        "zp_instrumental": column,
    }
    used = np.flatnonzero(usable)
    plotted = {"catalogue_mag": ref_mag[used], "delta": ref_mag[used] - inst[used],
               "colour": colour[used] if pair is not None else None,
               "residual": fit.residual, "kept": fit.kept, "total_sigma": fit.total_sigma}
    return Calibration(cal[0], cal[1], flags, figures, route, plotted, fit)


def _apply(fit, inst, inst_err, matched, colour, colour_err, usable, pair):
    """MAG_CAL, MAGERR_CAL and FLAGS_CAL for every row with an instrumental magnitude."""
    n = len(inst)
    star_colour = np.full(n, np.nan)
    star_colour_err = np.zeros(n)
    flags = np.zeros(n, "i4")
    if pair is not None:
        star_colour[matched] = colour
        star_colour_err[matched] = np.nan_to_num(colour_err)
        used_colours = colour[usable][fit.kept]
        median, spread = float(np.median(used_colours)), float(np.std(used_colours))
        unknown = ~np.isfinite(star_colour)
        star_colour[unknown] = median
        star_colour_err[unknown] = spread
        flags[unknown & np.isfinite(inst)] |= NO_COLOUR
    else:
        star_colour[:] = 0.0
    mag = inst + fit.offset(star_colour)
    variance = (inst_err ** 2 + fit.offset_variance(star_colour)
                + (fit.colour_term * star_colour_err) ** 2 + fit.intrinsic_scatter ** 2)
    return mag, np.sqrt(variance), flags


def _too_few(usable, measured, known, good_flags, inside, colour, isolated, n_matched,
             reference, band, settings):
    """The one-line reason a frame has too few calibration stars."""
    why = [f"{int(usable.sum())} usable of {n_matched} stars matched to "
           f"{reference.meta.get('catalog', '')} {band}, fewer than [zeropoint] min_stars = "
           f"{settings['min_stars']}"]
    if (~good_flags).all():
        why.append(f"all have SExtractor FLAGS above {settings['max_flags']} (saturated?)")
    elif (~good_flags).any():
        why.append(f"{int((~good_flags).sum())} flagged (FLAGS > {settings['max_flags']})")
    if (~measured).any():
        why.append(f"{int((~measured).sum())} without an instrumental magnitude or with an "
                   f"error above {settings['max_error_mag']} mag")
    if (~known).any():
        why.append(f"{int((~known).sum())} without a usable catalogue magnitude")
    if (~inside).any():
        why.append(f"{int((~inside).sum())} outside the transformation's colour range")
    if (~np.isfinite(colour)).any():
        why.append(f"{int((~np.isfinite(colour)).sum())} without a catalogue colour")
    if (~isolated).any():
        why.append(f"{int((~isolated).sum())} with neighbours brighter than "
                   f"{settings['max_contamination']:g} of their flux within "
                   f"{settings['isolation_arcsec']:g} arcsec")
    return "; ".join(why)
