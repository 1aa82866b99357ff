"""The ``ccdphot`` command line: run, batch, tools, config.

Errors the user can fix are printed as one line (``ccdphot: error: ...``) with
a non-zero exit code; no traceback unless --debug is given.
"""

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from ccdphot import __version__
from ccdphot.cli.batch import add_batch_parser
from ccdphot.cli.calib import add_header_options, add_parsers, header_run_options
from ccdphot.cli.catalog import add_catalog_parser
from ccdphot.cli.lightcurve import add_lightcurve_parser
from ccdphot.cli.period import add_period_parser
from ccdphot.cli.serve import add_serve_parsers
from ccdphot.cli.stack import add_stack_parsers
from ccdphot.config import config_to_toml, load_config, parse_override
from ccdphot.errors import CCDPhotError, InputError
from ccdphot.frame.pipeline import run_frame
from ccdphot.frame.steps import STEP_NAMES
from ccdphot.tools import ToolRegistry

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a command stopped by Ctrl-C


def _add_config_options(parser):
    parser.add_argument("--config", metavar="FILE",
                        help="TOML configuration file (default: ccdphot.toml in "
                             "$CCDPHOT_CONFIG_DIR when present)")
    parser.add_argument("--option", "-o", metavar="SECTION.KEY=VALUE", action="append",
                        default=[], help="override one configuration value (repeatable)")


def _config(args, extra=()):
    return load_config(path=args.config,
                       overrides=[*(parse_override(o) for o in args.option), *extra])


def _run_overrides(args):
    """Configuration values given as options of ``ccdphot run`` and ``batch``."""
    if not args.sextractor_config:
        return []
    path = Path(args.sextractor_config)
    if not path.is_file():
        raise InputError(f"--sextractor-config {path}: no such file; give your SExtractor "
                         ".sex file")
    return [{"detect": {"sextractor_config": str(path.resolve())}}]


def _add_frame_options(parser):
    """Options of each frame's run, shared by ``run`` and ``batch``."""
    parser.add_argument("--refcat", metavar="FILE",
                        help="local reference catalogue (ECSV/FITS/FITS_LDAC/CSV: ra, dec in "
                             "deg, magnitudes by band) for astrometry and zero points")
    parser.add_argument("--sextractor-config", metavar="FILE",
                        help="your own SExtractor .sex file (with the .param, filter and NNW "
                             "files it names beside it), honoured as given")
    parser.add_argument("--target", nargs=2, metavar=("RA", "DEC"),
                        help="write the target's calibrated point or upper limit to "
                             "target.json (degrees, or sexagesimal hours and degrees)")
    parser.add_argument("--steps", metavar="a,b,...",
                        help=f"steps to run, from: {','.join(STEP_NAMES)}")
    add_header_options(parser)


def _run_options(args):
    """Per-run options of ``ccdphot run`` and ``batch`` (they reach the steps as ctx.options)."""
    options = {}
    if args.refcat:
        if not Path(args.refcat).is_file():
            raise InputError(f"--refcat {args.refcat}: no such file; give a catalogue file "
                             "(ECSV, FITS, FITS_LDAC or CSV with ra, dec in degrees)")
        options["refcat"] = str(Path(args.refcat).resolve())
    if getattr(args, "legacy", None):
        options["legacy_dir"] = str(Path(args.legacy).resolve())
    if args.target:
        options["target"] = list(args.target)
    options.update(header_run_options(args))
    return options


def _stop_on_terminate(signum, frame):
    """SIGTERM stops ``ccdphot run`` as Ctrl-C does: the running tool is killed, the
    frame's run.json says where it stopped, the sessions end."""
    raise SystemExit(128 + signum)


def _cmd_run(args):
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop_on_terminate)
    config = _config(args, _run_overrides(args))
    steps = [s.strip() for s in args.steps.split(",") if s.strip()] if args.steps else None
    failed = 0
    with ToolRegistry(config, sessions=True) as tools:  # one PyRAF session for all frames
        for image in args.images:
            try:
                result = run_frame(image, config, steps=steps, out=args.out, tools=tools,
                                   options=_run_options(args))
            except CCDPhotError as err:
                failed += 1
                if getattr(err, "result", None) is not None:  # the frame's products were written
                    print(_summary(err.result))
                print(f"ccdphot: error: {err}", file=sys.stderr)
                continue
            print(_summary(result))
            if not result.ok:
                failed += 1
    return EXIT_FAILED if failed else EXIT_OK


def _summary(result):
    """One line per frame: status, sources, seeing, time, where the products are."""
    qc = result.record["qc"]
    seeing = qc.get("seeing_fwhm_pix")
    arcsec = qc.get("seeing_fwhm_arcsec")
    rows = len(result.table) if result.table is not None else 0
    skipped = [step["name"] for step in result.record["steps"] if step["status"] == "skipped"]
    status = result.record["status"]
    if not status.startswith("failed"):
        status = status.split(",")[0].split(":")[0]
    if skipped:  # the reasons are in the warnings above and in run.json
        status += f" (skipped: {', '.join(skipped)})"
    return (f"{result.record['frame']}: {status}; {rows} sources"
            + (f", seeing {seeing:.2f} pix" if seeing == seeing and seeing else "")
            + (f" ({arcsec:.2f} arcsec)" if arcsec else "")
            + f", {result.record['seconds']:.2f} s -> {result.out_dir}")


def _cmd_tools(args):
    rows = ToolRegistry(_config(args)).status()
    width = max(len(r["name"]) for r in rows)
    missing_required = []
    for row in rows:
        need = "required" if row["required"] else "optional"
        argv = " ".join(row["argv"])
        if row["status"] == "OK":
            print(f"{row['name']:<{width}}  OK       {row['version']:<10} {need:<8}  {argv}"
                  f"  ({row['executable']})")
        else:
            print(f"{row['name']:<{width}}  MISSING  {'-':<10} {need:<8}  {argv}"
                  f"  install: {row['install_hint']}")
            if row["required"]:
                missing_required.append(row["name"])
    if args.check and missing_required:
        print(f"ccdphot: error: required tool(s) missing: {', '.join(missing_required)}",
              file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _cmd_config(args):
    sys.stdout.write(config_to_toml(_config(args)))
    return EXIT_OK


def build_parser():
    parser = argparse.ArgumentParser(prog="ccdphot", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"ccdphot {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug log")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="process frames into RESULTS/<frame>/")
    run.add_argument("images", nargs="+", metavar="IMAGE", help="FITS frame(s)")
    run.add_argument("--out", metavar="DIR", help="results root (default: run.output_dir)")
    run.add_argument("--legacy", metavar="DIR",
                     help="legacy DAOPHOT II reduction of the image (option files, star "
                          "lists): reproduce it and write legacy_comparison.ecsv/.png")
    _add_frame_options(run)
    _add_config_options(run)
    run.set_defaults(func=_cmd_run)

    tools = sub.add_parser("tools", help="list the external tools, their versions and status")
    tools.add_argument("--check", action="store_true",
                       help="exit non-zero when a required tool is missing")
    _add_config_options(tools)
    tools.set_defaults(func=_cmd_tools)

    config = sub.add_parser("config", help="print the effective configuration as TOML")
    _add_config_options(config)
    config.set_defaults(func=_cmd_config)
    add_parsers(sub, _add_config_options, _config)
    add_catalog_parser(sub, _add_config_options, _config)
    add_stack_parsers(sub, _add_config_options, _config)
    add_lightcurve_parser(sub)
    add_period_parser(sub, _add_config_options, _config)
    add_batch_parser(sub, _add_config_options, _add_frame_options,
                     lambda args: _config(args, _run_overrides(args)), _run_options)
    add_serve_parsers(sub, _add_config_options, _config)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.DEBUG if args.debug else logging.WARNING)
    console.setFormatter(logging.Formatter("ccdphot: %(levelname)s: %(message)s"))
    logging.getLogger("ccdphot").addHandler(console)
    if args.debug:  # also the tools' own output, on the console
        logging.getLogger("ccdphot").setLevel(logging.DEBUG)
    try:
        return args.func(args)
    except CCDPhotError as err:
        if args.debug:
            raise
        print(f"ccdphot: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # the frame's run.json says where it was interrupted
        print("ccdphot: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
