"""Light curves from many frames' products: the Python API behind ``ccdphot lightcurve``.

``build_lightcurves(results, target=...)`` reads every frame under the RESULTS
directories, splits them into series (one per telescope, instrument and
filter), and for each: matches the stars to a reference frame, finds the
target, chooses the photometry method and the comparison ensemble, computes the
differential light curve, detrends it (with a transit fit when asked), and
computes the variability indices of every star. Frames that cannot be used are
listed with the reason and the rest go on. ``ccdphot.series.output`` writes
the tables, the AAVSO file and the plots.
"""

import logging
import math
import warnings
from dataclasses import dataclass, field, replace

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import MaskedColumn, Table, vstack

from ccdphot.errors import InputError
from ccdphot.series import align
from ccdphot.series.detrend import detrend_biweight, detrend_bic, no_detrending
from ccdphot.series.ensemble import SATURATED, EnsembleOptions, build_ensemble, robust_scatter
from ccdphot.series.indices import MIN_POINTS, rank_candidates, variability_indices
from ccdphot.series.matrix import METHODS, gather
from ccdphot.series.products import Rejection, read_results
from ccdphot.series.times import target_bjd_tdb

log = logging.getLogger(__name__)

LONG_SERIES_DAYS = 2.0  # detrend="auto": BIC model below this span, biweight above


@dataclass(frozen=True)
class LightCurveOptions:
    """Everything ``build_lightcurves`` can be told besides the target."""

    method: str = "auto"                 # psf, aper, kron or auto (the smallest target scatter)
    reference: str = None                # frame name; default: the first in time
    comparisons: tuple = None            # positions like the target's; None: automatic
    check: object = None                 # a position like the target's; None: automatic
    ensemble: EnsembleOptions = EnsembleOptions()
    detrend: str = "auto"                # auto, bic, biweight, none
    max_terms: int = 3
    window_days: float = 0.5             # biweight window
    transit: object = None               # TransitGuess to fit a transit (needs bic)
    match_radius_pix: float = None       # default max(2, 0.75 x seeing FWHM)
    match_radius_arcsec: float = None    # default max(1.5, seeing FWHM in arcsec)
    candidate_sigma: float = 5.0         # variability candidates: robust sigmas above the trend
    target_sky: object = None            # SkyCoord of a target given by pixels (for its BJD)


@dataclass
class SeriesResult:
    """The light curves of one telescope/instrument/filter series."""

    group: str
    series: object
    method: str
    target: int
    ensemble: object
    lightcurve: Table
    variability: Table
    detrending: object
    summary: dict
    differential: np.ndarray = field(repr=False, default=None)  # all stars minus ensemble


@dataclass
class LightCurveResult:
    """All series of one target, and the frames left out."""

    groups: list
    rejected: list
    combined: Table = None


def parse_position(text):
    """A sky position from 'RA DEC' text (degrees, or sexagesimal RA in hours)."""
    try:
        if any(c in text for c in ":hms"):
            return SkyCoord(text, unit=(u.hourangle, u.deg))
        ra, dec = (float(v) for v in text.replace(",", " ").split())
        return SkyCoord(ra * u.deg, dec * u.deg)
    except (ValueError, TypeError) as err:
        raise InputError(f"cannot read the sky position {text!r} ({err}); give 'RA DEC' in "
                         "degrees or '02:04:10.3 +46:41:16'") from err


def group_key(frame):
    """Series key: telescope, instrument and filter from the product meta."""
    parts = [frame.text("TELESCOP") or "telescope?", frame.text("INSTRUME"),
             frame.text("FILTER") or "filter?"]
    return "/".join(p for p in parts if p)


def _match(frames, reference, options, use_sky):
    seeing = reference.value("SEEING_FWHM_PIX")
    if use_sky:
        arcsec = reference.value("SEEING_FWHM_ARCSEC")
        radius = options.match_radius_arcsec or max(1.5, arcsec if math.isfinite(arcsec) else 0)
        return align.match_by_sky(frames, reference, radius), radius
    radius = options.match_radius_pix or max(2.0, 0.75 * seeing if math.isfinite(seeing) else 0)
    return align.match_by_pixels(frames, reference, radius), radius


def _locate(series, position, radius, what, use_sky):
    """Column of the reference star at ``position`` ((x, y) FITS pixels or SkyCoord)."""
    stars = series.stars
    ref = series.reference
    if isinstance(position, SkyCoord):
        if not use_sky:
            raise InputError(f"{what} given by sky position but the frames of reference frame "
                             f"{ref} have no WCS; give it as a pixel position in {ref} "
                             "(--target-xy / x,y comparisons) or run the astrometry step")
        ra = np.asarray(stars["RA_DEG"], float)
        dec = np.asarray(stars["DEC_DEG"], float)
        catalogue = SkyCoord(np.nan_to_num(ra) * u.deg, np.nan_to_num(dec) * u.deg)
        distance = position.separation(catalogue).arcsec
        distance[~(np.isfinite(ra) & np.isfinite(dec))] = np.inf
        unit, where = "arcsec", position.to_string("hmsdms", precision=1)
    else:
        x, y = (float(v) for v in position)
        naxis1, naxis2 = _frame_size(series)
        if naxis1 and not (0.5 <= x <= naxis1 + 0.5 and 0.5 <= y <= naxis2 + 0.5):
            raise InputError(f"{what} ({x:.1f}, {y:.1f}) is outside reference frame {ref} "
                             f"({naxis1} x {naxis2} pixels)")
        distance = np.hypot(np.asarray(stars["X_REF"], float) - x,
                            np.asarray(stars["Y_REF"], float) - y)
        distance[~np.isfinite(distance)] = np.inf
        unit, where = "pix", f"({x:.1f}, {y:.1f})"
    column = int(np.argmin(distance)) if len(distance) else -1
    if column < 0 or distance[column] > radius:
        nearest = f"; the nearest is {distance[column]:.1f} {unit} away" if column >= 0 else ""
        raise InputError(f"{what} at {where}: no star within {radius:.1f} {unit} in reference "
                         f"frame {ref}{nearest}; check the position (FITS pixels are 1-based) "
                         "or choose another --reference")
    return column


def _frame_size(series):
    frames = series.frames
    row = list(frames["FRAME"]).index(series.reference)
    n1, n2 = frames["NAXIS1"][row], frames["NAXIS2"][row]
    return (int(n1), int(n2)) if np.isfinite(n1) and np.isfinite(n2) else (0, 0)


def _choose_method(series, target, options, ensemble_for):
    """(method, its ensemble, scatter per method tried): the method asked for, or under
    'auto' the one giving the target the smallest point-to-point scatter."""
    available = [m for m in ("psf", "aper", "kron") if _measured(series, m, target)]
    if options.method != "auto":
        if options.method not in available:
            column = METHODS[options.method][0]
            raise InputError(f"method {options.method}: {column} is missing for the target in "
                             f"most frames of reference frame {series.reference}'s series; run "
                             "'ccdphot run' with that step, or use --method auto")
        return options.method, ensemble_for(options.method), {}
    if not available:
        raise InputError(f"the target has no magnitudes in the frames of reference frame "
                         f"{series.reference}'s series")
    tried, scatter = {}, {}
    for method in available[:2]:  # psf and aper when both exist; kron only as a fallback
        try:
            tried[method] = ensemble_for(method)
        except InputError as err:
            log.info("method %s not usable: %s", method, err)
            continue
        mag, _ = series.magnitudes(method)
        scatter[method] = robust_scatter(mag[:, target] - tried[method].zero_point)
    if not scatter:
        return available[0], ensemble_for(available[0]), {}
    best = min(scatter, key=scatter.get)
    return best, tried[best], scatter


def _measured(series, method, target, min_fraction=0.5):
    mag, _ = series.magnitudes(method)
    return bool(np.isfinite(mag[:, target]).mean() >= min_fraction)


def _conditions(series, target, time):
    frames = series.frames
    return {"AIRMASS": frames["AIRMASS"], "SEEING": frames["SEEING_FWHM_PIX"],
            "SKY": frames["SKY_ADU"], "X": series.values["X_IMAGE"][:, target],
            "Y": series.values["Y_IMAGE"][:, target], "TIME": time - np.nanmean(time),
            "TIME2": np.square(time - np.nanmean(time))}


def _detrend(series, target, time, dmag, dmag_err, options):
    method = options.detrend
    good = np.isfinite(dmag) & np.isfinite(time)
    span = float(np.ptp(time[good])) if good.any() else 0.0
    if method == "auto":
        method = "bic" if span < LONG_SERIES_DAYS else "biweight"
    if options.transit is not None and method != "bic":
        raise InputError("a transit fit is made with the BIC-selected systematics model: use "
                         "--detrend bic (or auto on a series shorter than "
                         f"{LONG_SERIES_DAYS:g} days)")
    if method == "none":
        return no_detrending(dmag)
    if method == "biweight":
        trend = np.full(len(dmag), np.nan)
        result = detrend_biweight(time[good], dmag[good], options.window_days)
        trend[good] = result.trend
        return replace(result, trend=trend)
    conditions = {k: np.asarray(v, float)[good] for k, v in
                  _conditions(series, target, time).items()}
    result = detrend_bic(time[good], dmag[good], dmag_err[good], conditions,
                         max_terms=options.max_terms, transit=options.transit)
    trend = np.full(len(dmag), np.nan)
    trend[good] = result.trend
    outliers = np.zeros(len(dmag), bool)
    outliers[good] = result.outliers
    if result.transit is not None:
        model = np.full(len(dmag), np.nan)
        model[good] = result.transit.model_mag
        result.transit.model_mag = model
    return replace(result, trend=trend, outliers=outliers)


def _masked(values, unit=None, description=None):
    values = np.asarray(values, dtype=float)
    return MaskedColumn(values, mask=~np.isfinite(values), unit=unit, description=description)


def _lightcurve_table(group, series, method, target, ensemble, detrending, time, target_coord):
    frames = series.frames
    mag, err = series.magnitudes(method)
    dmag = mag[:, target] - ensemble.magnitude
    dmag_err = np.sqrt(np.square(err[:, target]) + np.square(ensemble.zero_point_err))
    table = Table()
    table["FRAME"] = frames["FRAME"]
    table["GROUP"] = [group] * len(frames)
    table["BJD_TDB"] = _masked(time, u.day, "barycentric Julian date (TDB) at mid-exposure"
                               + (" for the target" if target_coord is not None else
                                  " for the frame pointing"))
    table["JD_UTC"] = _masked(frames["JD_UTC"], u.day, "Julian date (UTC) at mid-exposure")
    table["HJD_UTC"] = _masked(frames["HJD_UTC"], u.day, "heliocentric JD (UTC), frame pointing")
    table["DMAG"] = _masked(dmag, u.mag, "target minus comparison ensemble (raw)")
    table["DMAG_ERR"] = _masked(dmag_err, u.mag)
    table["DMAG_DETRENDED"] = _masked(dmag - detrending.trend, u.mag,
                                      "DMAG minus the systematics trend (0 = baseline)")
    table["TREND_MAG"] = _masked(detrending.trend, u.mag, f"{detrending.method} trend")
    if detrending.transit is not None:
        table["TRANSIT_MODEL_MAG"] = _masked(detrending.transit.model_mag, u.mag,
                                             "fitted trapezoid transit")
    outliers = detrending.outliers if detrending.outliers is not None else np.zeros(len(dmag), bool)
    table["OUTLIER"] = np.asarray(outliers, bool)
    table["MAG_INST"] = _masked(mag[:, target], u.mag, f"target instrumental ({method})")
    table["MAGERR_INST"] = _masked(err[:, target], u.mag)
    table["ENSEMBLE_MAG"] = _masked(ensemble.magnitude, u.mag, "comparison ensemble (instrumental)")
    table["ENSEMBLE_ERR"] = _masked(ensemble.zero_point_err, u.mag)
    table["N_COMPARISONS"] = np.isfinite(mag[:, ensemble.columns]).sum(axis=1)
    cal = series.values["MAG_CAL"]
    if np.isfinite(cal[:, target]).any() or np.isfinite(cal[:, ensemble.columns]).any():
        table["MAG_CAL"] = _masked(cal[:, target], u.mag, "target calibrated (zeropoint step)")
        table["MAGERR_CAL"] = _masked(series.values["MAGERR_CAL"][:, target], u.mag)
        with np.errstate(invalid="ignore"):
            comp_cal = np.nanmedian(cal[:, ensemble.columns], axis=0)
        known = np.isfinite(comp_cal)
        level = (np.sum(ensemble.weights[known] * comp_cal[known]) / ensemble.weights[known].sum()
                 if known.any() else np.nan)
        table["MAG_CAL_ENS"] = _masked(dmag + level, u.mag,
                                       "DMAG on the calibrated scale of the comparisons")
    if ensemble.check >= 0:
        check = mag[:, ensemble.check] - ensemble.magnitude
        table["CHECK_DMAG"] = _masked(check, u.mag, "check star minus ensemble")
        table["CHECK_MAG_INST"] = _masked(mag[:, ensemble.check], u.mag)
    table["AIRMASS"] = _masked(frames["AIRMASS"])
    table["SEEING_FWHM_PIX"] = _masked(frames["SEEING_FWHM_PIX"], u.pix)
    table["SKY_ADU"] = _masked(frames["SKY_ADU"], u.adu)
    table["X_IMAGE"] = _masked(series.values["X_IMAGE"][:, target], u.pix,
                               "target x on the chip (FITS)")
    table["Y_IMAGE"] = _masked(series.values["Y_IMAGE"][:, target], u.pix)
    table["FLAGS"] = series.values["FLAGS"][:, target]
    table["EXPTIME_S"] = _masked(frames["EXPTIME_S"], u.s)
    table["FILTER"] = frames["FILTER"]
    return table


def _variability(series, method, target, ensemble, time, options):
    mag, err = series.magnitudes(method)
    differential = mag - ensemble.zero_point[:, None]
    total_err = np.sqrt(np.square(err) + np.square(ensemble.zero_point_err)[:, None])
    cadence = np.nanmedian(np.diff(time)) if len(time) > 1 else np.inf
    indices = variability_indices(differential, total_err, time, max_pair_days=3.0 * cadence)
    indices.add_column(series.stars["STAR_ID"], index=0)
    for name in ("X_REF", "Y_REF", "RA_DEG", "DEC_DEG"):
        indices[name] = series.stars[name]
    roles = np.array([""] * series.n_stars, dtype="U10")
    for column, (role, _) in ensemble.roles.items():
        roles[column] = role
    roles[target] = "target"
    indices["ROLE"] = roles
    indices["SATURATED"] = ((series.values["FLAGS"] & SATURATED) > 0).any(axis=0)
    ranked = rank_candidates(indices, threshold=options.candidate_sigma,
                             min_points=max(MIN_POINTS, series.n_frames // 2),
                             excluded=indices["SATURATED"])
    return ranked, differential


def _summary(group, series, method, scatter, target, ensemble, detrending, lightcurve, rejected,
             radius):
    stars = series.stars
    detrended = np.asarray(lightcurve["DMAG_DETRENDED"].filled(np.nan), float)
    summary = {
        "group": group, "reference_frame": series.reference, "match": series.match_mode,
        "match_radius": radius, "n_frames": series.n_frames, "n_stars": series.n_stars,
        "method": method, "method_scatter_mag": scatter,
        "target": {"star_id": int(stars["STAR_ID"][target]),
                   "x_ref": float(stars["X_REF"][target]), "y_ref": float(stars["Y_REF"][target])},
        "comparisons": [{"star_id": int(stars["STAR_ID"][c]), "weight": float(w),
                         "rms_mag": float(s), "x_ref": float(stars["X_REF"][c]),
                         "y_ref": float(stars["Y_REF"][c])}
                        for c, w, s in zip(ensemble.columns, ensemble.weights, ensemble.scatter)],
        "check": (int(stars["STAR_ID"][ensemble.check]) if ensemble.check >= 0 else None),
        "detrending": detrending.record(),
        "rms_detrended_mag": _rms(detrended),
        "rejected_frames": [r.reason for r in rejected],
    }
    if detrending.transit is not None:
        oot = ~detrending.transit.in_transit(np.asarray(lightcurve["BJD_TDB"].filled(np.nan)))
        summary["oot_rms_mag"] = _rms(detrended[oot])
        residual = detrended - np.asarray(lightcurve["TRANSIT_MODEL_MAG"].filled(np.nan))
        summary["residual_rms_mag"] = _rms(residual)
    if ensemble.check >= 0:
        summary["check_rms_mag"] = _rms(np.asarray(lightcurve["CHECK_DMAG"].filled(np.nan)))
    return summary


def _rms(values):
    values = np.asarray(values, float)
    values = values[np.isfinite(values)]
    return float(np.std(values, ddof=1)) if len(values) > 1 else math.nan


def build_series(frames, group, target, options, rejected):
    """The :class:`SeriesResult` of one series (``frames`` sorted by time).

    A star seen in too few frames has all-NaN columns, and NaN is the intended
    index for it, so numpy's warnings about empty slices are silenced here.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return _build_series(frames, group, target, options, rejected)


def _build_series(frames, group, target, options, rejected):
    names = [f.name for f in frames]
    reference = frames[0]
    if options.reference:
        if options.reference not in names:
            raise InputError(f"--reference {options.reference}: no such frame in series {group} "
                             f"(frames: {names[0]} ... {names[-1]})")
        reference = frames[names.index(options.reference)]
    use_sky = all(f.has_wcs for f in frames)
    matches, radius = _match(frames, reference, options, use_sky)
    kept = []
    for frame in frames:
        match = matches[frame.name]
        if isinstance(match, str):
            log.warning("%s", match)
            rejected.append(Rejection(frame.name, match))
        else:
            kept.append(frame)
    series = gather(kept, matches, reference, "sky" if use_sky else "pixels")
    position_radius = radius if use_sky else max(radius, 3.0)
    target_column = _locate(series, target, position_radius, "target", use_sky)
    comparisons = (None if options.comparisons is None else
                   [_locate(series, p, position_radius, f"comparison {i + 1}", use_sky)
                    for i, p in enumerate(options.comparisons)])
    check = (None if options.check is None else
             _locate(series, options.check, position_radius, "check star", use_sky))
    target_coord = target if isinstance(target, SkyCoord) else options.target_sky
    time = target_bjd_tdb(series.frames["JD_UTC"], series.frames["BJD_TDB"],
                          series.frames["POINTING_RA_DEG"], series.frames["POINTING_DEC_DEG"],
                          target_coord)
    if not np.isfinite(time).any():
        raise InputError(f"series {group}: no frame has BJD_TDB_MID and the target's sky "
                         "position is unknown to compute it; give --target RA DEC")

    def ensemble_for(method):
        mag, err = series.magnitudes(method)
        return build_ensemble(series, mag, err, target_column, options.ensemble, comparisons,
                              check)

    method, ensemble, scatter = _choose_method(series, target_column, options, ensemble_for)
    mag, err = series.magnitudes(method)
    dmag = mag[:, target_column] - ensemble.magnitude
    dmag_err = np.sqrt(np.square(err[:, target_column]) + np.square(ensemble.zero_point_err))
    detrending = _detrend(series, target_column, time, dmag, dmag_err, options)
    lightcurve = _lightcurve_table(group, series, method, target_column, ensemble, detrending,
                                   time, target_coord)
    variability, differential = _variability(series, method, target_column, ensemble, time,
                                            options)
    summary = _summary(group, series, method, scatter, target_column, ensemble, detrending,
                       lightcurve, [r for r in rejected if r.name in names], radius)
    lightcurve.meta.update({"GROUP": group, "METHOD": method,
                            "REFERENCE_FRAME": series.reference,
                            "TIME_SCALE": "BJD_TDB (mid-exposure); JD_UTC, HJD_UTC"})
    log.info("series %s: %d frames, method %s, %d comparisons, check star %s", group,
             series.n_frames, method, len(ensemble.columns), summary["check"])
    return SeriesResult(group, series, method, target_column, ensemble, lightcurve, variability,
                        detrending, summary, differential)


def build_lightcurves(results, target, options=LightCurveOptions()):
    """Light curves of ``target`` from the frames under ``results`` (RESULTS directories).

    ``target`` is a SkyCoord, or an (x, y) FITS pixel position in the reference
    frame (only for a single series). Returns a :class:`LightCurveResult`.
    """
    frames, rejected = read_results(results)
    if not frames:
        reasons = "; ".join(r.reason for r in rejected[:3])
        raise InputError(f"no usable frame in {', '.join(map(str, results))}"
                         + (f": {reasons}" if reasons else ""))
    groups = {}
    for frame in frames:
        groups.setdefault(group_key(frame), []).append(frame)
    if len(groups) > 1 and not isinstance(target, SkyCoord):
        raise InputError(f"the frames form {len(groups)} series ({', '.join(groups)}); a pixel "
                         "position names a star in one of them only: give --target RA DEC, or "
                         "the RESULTS of one telescope and filter")
    results_by_group, errors = [], []
    for name, members in groups.items():
        if len(members) < 3:
            reason = f"series {name} has only {len(members)} frame(s); a light curve needs 3"
        else:
            try:
                results_by_group.append(build_series(members, name, target, options, rejected))
                continue
            except InputError as err:
                if len(groups) == 1:
                    raise
                errors.append(err)
                reason = f"series {name}: {err}"
        log.warning("%s", reason)
        rejected.extend(Rejection(frame.name, f"{frame.name}: {reason}") for frame in members)
    if not results_by_group:
        raise errors[0] if errors else InputError("no series with at least 3 usable frames")
    combined = vstack([g.lightcurve for g in results_by_group], metadata_conflicts="silent")
    combined.sort("BJD_TDB")
    return LightCurveResult(results_by_group, rejected, combined)
