"""Subcommand ``ccdphot lightcurve``: the command-line face of :mod:`ccdphot.series`.

Prints one line per series and one per frame left out (with the reason), and
writes the products. Registered by :func:`add_lightcurve_parser` from :mod:`ccdphot.cli`.
"""

import logging
import sys

from ccdphot.errors import InputError
from ccdphot.series.ensemble import EnsembleOptions
from ccdphot.series.lightcurve import LightCurveOptions, build_lightcurves, parse_position
from ccdphot.series.output import write_lightcurves
from ccdphot.series.transit import TransitGuess

log = logging.getLogger(__name__)


def add_lightcurve_parser(subparsers):
    """Add ``lightcurve`` to the ``ccdphot`` subcommands."""
    p = subparsers.add_parser(
        "lightcurve", help="differential light curves from the products of many frames",
        description="Differential light curve of a target (and variability indices of every "
                    "star) from RESULTS directories written by 'ccdphot run'.")
    p.add_argument("results", nargs="+", metavar="RESULTS", help="results directories")
    where = p.add_argument_group("target (one of --target, --target-xy; both: the pixel "
                                 "position names the star, the sky position its times)")
    where.add_argument("--target", nargs=2, metavar=("RA", "DEC"),
                       help="sky position (degrees, or sexagesimal RA in hours)")
    where.add_argument("--target-xy", nargs=2, type=float, metavar=("X", "Y"),
                       help="FITS pixel position (1-based) in the reference frame")
    p.add_argument("--reference", metavar="FRAME",
                   help="reference frame name (default: the first in time)")
    p.add_argument("--comparisons", default="auto", metavar="auto|A,B;A,B...",
                   help="comparison stars, as RA,DEC (with --target) or X,Y in the reference "
                        "frame (with --target-xy), separated by ';' (default: auto)")
    p.add_argument("--check", metavar="A,B", help="check star, given like a comparison")
    p.add_argument("--method", default="auto", choices=("auto", "psf", "aper", "kron"),
                   help="photometry: auto picks the one with the smaller target scatter")
    p.add_argument("--optimise", default="none", choices=("none", "greedy", "exhaustive"),
                   help="search the comparison set giving the target the smallest scatter")
    p.add_argument("--max-comparisons", type=int, default=10, metavar="N",
                   help="automatic comparison candidates (default 10)")
    p.add_argument("--min-comparisons", type=int, default=2, metavar="N",
                   help="fewest comparison stars accepted (default 2)")
    p.add_argument("--detrend", default="auto", choices=("auto", "bic", "biweight", "none"),
                   help="auto: BIC-selected linear model for a series shorter than 2 days, "
                        "time-windowed biweight for longer ones")
    p.add_argument("--window-days", type=float, default=0.5, metavar="D",
                   help="biweight window in days (default 0.5)")
    p.add_argument("--transit", action="store_true",
                   help="fit a trapezoid transit jointly with the systematics")
    p.add_argument("--transit-t0", type=float, metavar="BJD_TDB", help="starting mid-time")
    p.add_argument("--transit-duration", type=float, metavar="HOURS",
                   help="starting total duration (T14) in hours")
    p.add_argument("--match-radius", type=float, metavar="R",
                   help="cross-match radius: pixels without WCS, arcsec with")
    p.add_argument("--out", default="lightcurve", metavar="DIR",
                   help="output directory (default: ./lightcurve)")
    p.add_argument("--name", metavar="NAME", help="target name (default: OBJECT of the frames)")
    p.add_argument("--obscode", default="na", help="AAVSO observer code")
    p.add_argument("--aavso-date", default="JD", choices=("JD", "HJD"),
                   help="date column of the AAVSO file (AAVSO takes no BJD)")
    p.add_argument("--aavso-filter", metavar="CODE", help="AAVSO filter code (default: from FILTER)")
    p.add_argument("--no-plots", action="store_true", help="write the tables only")
    p.set_defaults(func=run_command)
    return p


def _pairs(text, what):
    """'a,b;c,d' -> [(a, b), (c, d)] as floats or sexagesimal strings."""
    pairs = []
    for item in filter(None, (part.strip() for part in text.split(";"))):
        values = [v.strip() for v in item.split(",")]
        if len(values) != 2:
            raise InputError(f"{what} {item!r}: give two values separated by a comma")
        pairs.append(values)
    return pairs


def _position(values, sky, what):
    if sky:
        return parse_position(" ".join(values))
    try:
        return tuple(float(v) for v in values)
    except ValueError as err:
        raise InputError(f"{what} {','.join(values)!r}: give X,Y pixel positions (with "
                         "--target-xy) or RA,DEC (with --target)") from err


def options_from_args(args):
    """(target, LightCurveOptions) from the parsed command line."""
    if args.target is None and args.target_xy is None:
        raise InputError("give the target: --target RA DEC or --target-xy X Y")
    sky = args.target_xy is None
    target = parse_position(" ".join(args.target)) if sky else tuple(args.target_xy)
    comparisons = (None if args.comparisons.strip().lower() == "auto" else
                   tuple(_position(p, sky, "comparison")
                         for p in _pairs(args.comparisons, "comparison")))
    check = None
    if args.check:
        pairs = _pairs(args.check, "check star")
        if len(pairs) != 1:
            raise InputError("--check takes one position")
        check = _position(pairs[0], sky, "check star")
    transit = None
    if args.transit or args.transit_t0 or args.transit_duration:
        duration = args.transit_duration / 24.0 if args.transit_duration else None
        transit = TransitGuess(args.transit_t0, duration)
    ensemble = EnsembleOptions(max_candidates=args.max_comparisons,
                               min_comparisons=args.min_comparisons, optimise=args.optimise)
    options = LightCurveOptions(
        method=args.method, reference=args.reference, comparisons=comparisons, check=check,
        ensemble=ensemble, detrend=args.detrend, window_days=args.window_days, transit=transit,
        match_radius_pix=None if sky else args.match_radius,
        match_radius_arcsec=args.match_radius if sky else None,
        target_sky=(parse_position(" ".join(args.target))
                    if args.target is not None and not sky else None))
    return target, options


def _report(summary):
    lines = []
    for entry in summary["series"]:
        line = (f"{entry['group']}: {entry['n_frames']} frames, reference "
                f"{entry['reference_frame']}, {entry['method']} photometry, "
                f"{len(entry['comparisons'])} comparisons"
                + (f", check star {entry['check']}" if entry["check"] is not None else "")
                + f", detrended RMS {1000 * entry['rms_detrended_mag']:.1f} mmag")
        transit = entry["detrending"].get("transit")
        if transit:
            line += (f"; transit T0 {transit['T0']:.4f} +- {transit['T0_ERR']:.4f}, depth "
                     f"{100 * transit['DEPTH']:.2f} +- {100 * transit['DEPTH_ERR']:.2f} %, "
                     f"out-of-transit RMS {1000 * entry['oot_rms_mag']:.1f} mmag")
        lines.append(line)
    return lines


def run_command(args):
    target, options = options_from_args(args)
    result = build_lightcurves(args.results, target, options)
    name = args.name or _object_name(result) or "target"
    summary = write_lightcurves(result, args.out, name=name, obscode=args.obscode,
                                aavso_date=args.aavso_date, aavso_filter=args.aavso_filter,
                                plots_wanted=not args.no_plots)
    for rejection in result.rejected:
        print(f"ccdphot: frame left out: {rejection.reason}", file=sys.stderr)
    for line in _report(summary):
        print(line)
    print(f"light curve products in {args.out}")
    return 0


def _object_name(result):
    objects = [o for o in result.groups[0].series.frames["OBJECT"] if o]
    return objects[0] if objects else None
