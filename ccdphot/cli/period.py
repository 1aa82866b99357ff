"""Subcommand ``ccdphot period``: period search on light curves, both engines alike.

``ccdphot period LC... --method ls|bls|aov|aov_harm|fourier`` writes one row per
light curve: ``Name`` (the file as given), then the columns VARTOOLS prints for
the command (``LS_Period_1_0``, ...), whichever engine computed them.
"""

import logging
import re
import sys
from pathlib import Path

from astropy import units as u

from ccdphot.errors import InputError, ToolNotFoundError
from ccdphot.periods.engine import ENGINES, METHODS, PeriodSearch, search
from ccdphot.periods.folding import fold
from ccdphot.periods.lightcurve import LightCurveError, read_lightcurve
from ccdphot.plots.periodogram import plot_folded, plot_periodogram
from ccdphot.products import write_table_atomic
from ccdphot.tools import ToolRegistry

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED = 0, 1
# Column names -> unit (VARTOOLS's names carry none; the product must).
UNITS = ((re.compile(r"(^|_)(Period|Tc)(_|$)"), u.day),
         (re.compile(r"(Depth|Mean_?Mag|OOTmag|Amplitude|_Amp)(_|$)"), u.mag))


def add_period_parser(subparsers, add_config_options, config_from_args):
    """Add ``ccdphot period``; ``config_from_args`` gives the effective config."""
    parser = subparsers.add_parser(
        "period", help="period search (LS, BLS, AoV, harmonic AoV, Fourier) with VARTOOLS "
                       "or the native engine; VARTOOLS's column names")
    parser.add_argument("lightcurves", nargs="+", metavar="LC",
                        help="light curves: 't mag err' text or ECSV (ccdphot lightcurve)")
    parser.add_argument("--method", choices=METHODS, default="ls")
    parser.add_argument("--engine", choices=(*ENGINES, "auto"),
                        help="default: [periods] engine (auto = VARTOOLS when installed)")
    parser.add_argument("--min-period", type=float, metavar="P", help="shortest period (d)")
    parser.add_argument("--max-period", type=float, metavar="P", help="longest period (d)")
    parser.add_argument("--npeaks", type=int, default=1, help="peaks to report (default 1)")
    parser.add_argument("--nharm", type=int, help="harmonics of aov_harm (default 2)")
    parser.add_argument("--terms", type=int,
                        help="Fourier terms of --method fourier, 1 = a sinusoid (default 4)")
    parser.add_argument("--period", type=float, metavar="P",
                        help="fourier: fit at this period (d) instead of the LS period")
    parser.add_argument("--columns", metavar="T,MAG,ERR",
                        help="time, magnitude and error column names of ECSV light curves")
    parser.add_argument("--out", metavar="FILE.ecsv", help="write the table (else print it)")
    parser.add_argument("--plots", metavar="DIR",
                        help="write <lc>_periodogram.png and <lc>_folded.png here")
    add_config_options(parser)
    parser.set_defaults(func=lambda args: run_command(args, config_from_args(args)))


def _search_spec(args, config):
    options = config["periods"]
    values = {"method": args.method,
              "min_period": args.min_period or options["min_period_d"],
              "max_period": args.max_period or options["max_period_d"],
              "npeaks": args.npeaks, "period": args.period}
    if args.nharm:
        values["nharm"] = args.nharm
    if args.terms:
        values["fourier_terms"] = args.terms
    return PeriodSearch(**values)


def _engine(args, config, tools):
    engine = args.engine or config["periods"]["engine"]
    if engine != "auto":
        return engine
    try:
        tools.resolve("vartools")
    except ToolNotFoundError:
        log.info("VARTOOLS not found; the native engine is used")
        return "native"
    return "vartools"


def _with_units(table):
    for name in table.colnames:
        unit = next((unit for pattern, unit in UNITS if pattern.search(name)), None)
        if unit is not None:
            table[name].unit = unit
    return table


def run_command(args, config):
    """Read the light curves, search them, write the table and plots; 1 if any failed."""
    columns = tuple(args.columns.split(",")) if args.columns else None
    if columns is not None and len(columns) != 3:
        raise InputError(f"--columns {args.columns}: give three names, time,mag,err")
    spec = _search_spec(args, config)
    tools = ToolRegistry(config)
    engine = _engine(args, config, tools)
    lightcurves, failed = {}, 0
    for path in args.lightcurves:
        try:
            lightcurves[path] = read_lightcurve(path, columns)
        except LightCurveError as err:
            failed += 1
            print(f"ccdphot: error: {err}", file=sys.stderr)
    result = search(lightcurves, spec, engine, tools=tools)
    for message in result.errors.values():
        failed += 1
        print(f"ccdphot: error: {message}", file=sys.stderr)
    table = _with_units(result.table)
    table.meta.update(method=spec.method, engine=engine,
                      time_unit="days, in the light curves' own time scale")
    if args.out:
        write_table_atomic(table, args.out, format="ascii.ecsv")
    if args.plots:
        _plots(Path(args.plots), lightcurves, result, spec)
    for row in table:
        print(f"{row['Name']}: best period {spec.best_period(row):.8f} d ({spec.method}, "
              f"{engine})")
    if not args.out:
        table.write(sys.stdout, format="ascii.fixed_width_two_line")
    return EXIT_FAILED if failed else EXIT_OK


def _plots(directory, lightcurves, result, spec):
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"--plots {directory}: cannot create it ({err.strerror})") from err
    for row in result.table:
        name = str(row["Name"])
        stem = Path(name).name
        title = f"{stem}: {spec.method}"
        if name in result.periodograms and result.periodograms[name] is not None:
            plot_periodogram(result.periodograms[name], spec.best_period(row), title,
                             directory / f"{stem}_periodogram.png")
        folded, model, period = fold(lightcurves[name], spec, row)
        plot_folded(folded, model, period, spec.method, title, directory / f"{stem}_folded.png")
