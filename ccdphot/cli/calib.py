"""Subcommands ``ccdphot header``, ``ccdphot profile convert`` and ``ccdphot calib``.

Registered by :func:`add_parsers` from :mod:`ccdphot.cli`; errors are raised
as CCDPhotError and printed there as one line.
"""

import sys
from pathlib import Path

from ccdphot.calib.apply import apply_masters
from ccdphot.calib.masters import make_masters
from ccdphot.errors import CCDPhotError, OutputError
from ccdphot.fitsio import read_frame
from ccdphot.header.profiles import (
    frame_profile,
    profile_to_toml,
    read_obsinfo,
    shipped_profiles,
)
from ccdphot.header.standard import standard_table, standardise
from ccdphot.header.values import parse_set_options
from ccdphot.products import write_text_atomic

EXIT_OK, EXIT_FAILED = 0, 1


def add_header_options(parser):
    """--profile and --set, shared by run, header and calib."""
    parser.add_argument("--profile", metavar="NAME_OR_FILE",
                        help="telescope profile: shipped name, .toml or _obs.info file "
                             "(default: [header] profile, else matched by TELESCOP/INSTRUME/"
                             "OBSERVAT)")
    parser.add_argument("--set", dest="header_values", metavar="KEY=VALUE", action="append",
                        default=[], help="header value in standard units, winning over header "
                                         "and profile (repeatable), e.g. --set FILTER=V")


def header_run_options(args):
    """The run options --profile/--set give (for run_frame's ``options``)."""
    options = {}
    if args.header_values:
        options["header_values"] = parse_set_options(args.header_values)
    if args.profile:
        options["profile"] = args.profile
    return options


def _cmd_header(args, config):
    overrides = parse_set_options(args.header_values)
    choice = args.profile or config["header"]["profile"]
    rows, failed = [], 0
    for name in args.files:
        try:
            _, header, _ = read_frame(name)
            std = standardise(header, frame_profile(header, choice), overrides,
                              file_name=Path(name).name)
        except CCDPhotError as err:
            failed += 1
            print(f"ccdphot: error: {err}", file=sys.stderr)
            continue
        rows.append((Path(name).name, std))
        for warning in std.warnings:
            print(f"ccdphot: warning: {Path(name).name}: {warning}", file=sys.stderr)
    if rows:
        table = standard_table(rows, with_sources=args.sources)
        if args.format == "ecsv":
            table.write(sys.stdout, format="ascii.ecsv")
        else:
            table.pprint_all()
    return EXIT_FAILED if failed else EXIT_OK


def _cmd_profile_convert(args, config):
    text = profile_to_toml(read_obsinfo(args.obsinfo))
    if args.out:
        out = Path(args.out)
        if out.resolve() == Path(args.obsinfo).resolve():
            raise OutputError(f"{out}: would overwrite the input template; choose another --out")
        write_text_atomic(out, text)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _cmd_profile_list(args, config):
    for profile in shipped_profiles():
        match = ", ".join(f"{key}={value!r}" for key, value in profile.match.items())
        print(f"{profile.name:<20} matches {match}")
    return EXIT_OK


def _calib_config(args, config):
    table = dict(config["calibrate"])
    if args.method:
        table["combine_method"] = args.method
    return table


def _cmd_calib_masters(args, config):
    written, figures = make_masters(args.bias, args.dark, args.flat, args.out,
                                    _calib_config(args, config),
                                    args.profile or config["header"]["profile"],
                                    parse_set_options(args.header_values))
    for path in written:
        print(path)
    bias = figures.get("bias")
    if bias:
        print(f"master bias: level {bias['level_adu']} ADU, read noise from bias differences "
              f"{bias['read_noise_adu']} ADU = {bias['read_noise_e']} e- "
              f"(gain {bias['gain_e_per_adu']} e-/ADU)")
    return EXIT_OK


def _cmd_calib_apply(args, config):
    table = _calib_config(args, config)
    for kind in ("bias", "dark", "flat"):
        if getattr(args, f"master_{kind}"):
            table[f"master_{kind}"] = getattr(args, f"master_{kind}")
    if args.masters:
        table["masters_dir"] = args.masters
    failed = 0
    for name in args.images:
        try:
            written, record = apply_masters(name, args.out, table,
                                            args.profile or config["header"]["profile"],
                                            parse_set_options(args.header_values))
        except CCDPhotError as err:
            failed += 1
            print(f"ccdphot: error: {err}", file=sys.stderr)
            continue
        print(f"{name}: masters {', '.join(record['masters'].values())}; "
              f"{record['n_masked']} masked pixels -> {', '.join(str(p) for p in written)}")
    return EXIT_FAILED if failed else EXIT_OK


def add_parsers(sub, add_config_options, config_from_args):
    """Add the header, profile and calib subcommands to the ``ccdphot`` parser.

    ``config_from_args`` turns the parsed --config/--option into the config.
    """

    def with_config(handler):
        return lambda args: handler(args, config_from_args(args))

    header = sub.add_parser("header", help="print the standardised header keywords of frames")
    header.add_argument("files", nargs="+", metavar="FILE", help="FITS frame(s)")
    header.add_argument("--sources", action="store_true",
                        help="add a <KEY>_src column saying where each value came from")
    header.add_argument("--format", choices=("text", "ecsv"), default="text")
    add_header_options(header)
    add_config_options(header)
    header.set_defaults(func=with_config(_cmd_header))

    profile = sub.add_parser("profile", help="telescope profiles")
    actions = profile.add_subparsers(dest="action", required=True)
    convert = actions.add_parser("convert", help="convert a CCDPhot *_obs.info template to a "
                                                 "TOML profile")
    convert.add_argument("obsinfo", metavar="X_obs.info")
    convert.add_argument("--out", metavar="FILE", help="write here (default: standard output)")
    convert.set_defaults(func=lambda args: _cmd_profile_convert(args, None))
    listing = actions.add_parser("list", help="list the shipped profiles and what they match")
    listing.set_defaults(func=lambda args: _cmd_profile_list(args, None))

    calib = sub.add_parser("calib", help="CCD calibration: build or apply masters")
    actions = calib.add_subparsers(dest="action", required=True)
    masters = actions.add_parser("masters", help="combine bias/dark/flat frames into masters")
    masters.add_argument("--bias", nargs="+", default=[], metavar="F")
    masters.add_argument("--dark", nargs="+", default=[], metavar="F")
    masters.add_argument("--flat", nargs="+", default=[], metavar="F")
    masters.add_argument("--out", required=True, metavar="DIR", help="masters directory")
    apply = actions.add_parser("apply", help="calibrate raw frames with masters")
    apply.add_argument("images", nargs="+", metavar="IMAGE")
    apply.add_argument("--masters", metavar="DIR", help="find masters here by binning, filter, "
                                                        "exposure and date")
    for kind in ("bias", "dark", "flat"):
        apply.add_argument(f"--{kind}", dest=f"master_{kind}", metavar="MASTER")
    apply.add_argument("--out", required=True, metavar="DIR",
                       help="write <frame>_cal.fits, _mask.fits, _sigma.fits here")
    for parser, handler in ((masters, _cmd_calib_masters), (apply, _cmd_calib_apply)):
        parser.add_argument("--method", choices=("median", "average"),
                            help="combination (default: [calibrate] combine_method)")
        add_header_options(parser)
        add_config_options(parser)
        parser.set_defaults(func=with_config(handler))

