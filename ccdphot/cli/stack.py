"""Subcommands ``ccdphot stack``, ``ccdphot psfstars`` and ``ccdphot cmd``.

Registered by :func:`add_stack_parsers` from :mod:`ccdphot.cli.main`; errors
are raised as CCDPhotError and printed there as one line. The capabilities
are imported by the handlers: reproject, ccdproc and matplotlib take seconds
to import, which no other ``ccdphot`` command should pay.
"""

from ccdphot.cli.calib import add_header_options
from ccdphot.header.values import parse_set_options
from ccdphot.stack.alignment import ALIGN_MODES
from ccdphot.stack.engines import ENGINES, METHODS

EXIT_OK = 0


def add_stack_parsers(sub, add_config_options, config_from_args):
    """Add ``stack``, ``psfstars`` and ``cmd``; ``config_from_args`` gives the config."""
    stack = sub.add_parser("stack", help="combine frames of one field into a deeper frame "
                                         "(SWarp or reproject), with its weight map")
    stack.add_argument("frames", nargs="+", metavar="FRAME", help="FITS frames of one field; "
                       "the first is the reference (pixel grid, WCS, header)")
    stack.add_argument("--out", required=True, metavar="FILE.fits",
                       help="the stack; its weight map goes beside it as FILE.weight.fits")
    stack.add_argument("--method", choices=METHODS, help="default: [stack] method")
    stack.add_argument("--engine", choices=ENGINES, help="default: [stack] engine")
    stack.add_argument("--align", choices=ALIGN_MODES,
                       help="by WCS or by star patterns (default: [stack] align)")
    add_header_options(stack)
    add_config_options(stack)
    stack.set_defaults(func=lambda args: _cmd_stack(args, config_from_args(args)))

    psfstars = sub.add_parser("psfstars", help="good PSF stars of a frame: DAOPHOT .lst, DS9 "
                                               "regions and a cut-out mosaic PNG")
    psfstars.add_argument("source", metavar="IMAGE|RESULTS",
                          help="a FITS frame (detected first) or a RESULTS/<frame> folder")
    psfstars.add_argument("--out", metavar="DIR", help="where to write (default: the RESULTS "
                          "folder; for an IMAGE, RESULTS/<frame>)")
    psfstars.add_argument("--grid", type=int, default=3, metavar="N",
                          help="spread the stars over N x N cells of the chip (default 3)")
    add_header_options(psfstars)
    add_config_options(psfstars)
    psfstars.set_defaults(func=lambda args: _cmd_psfstars(args, config_from_args(args)))

    cmd = sub.add_parser("cmd", help="colour-magnitude diagram of two RESULTS of one field "
                                     "in two filters")
    cmd.add_argument("first", metavar="RESULTS_BAND1", help="RESULTS/<frame> of the bluer band")
    cmd.add_argument("second", metavar="RESULTS_BAND2", help="RESULTS/<frame> of the redder band")
    cmd.add_argument("--out", metavar="DIR", default=".", help="where cmd.ecsv and cmd.png go")
    cmd.add_argument("--radius-arcsec", type=float, metavar="R",
                     help="match radius (default: 1.5 pixels of the coarser frame, at least "
                          "1 arcsec)")
    cmd.set_defaults(func=_cmd_cmd)


def _cmd_stack(args, config):
    from ccdphot.stack.stacking import stack_frames

    result = stack_frames(args.frames, args.out, config, method=args.method,
                          engine=args.engine, align=args.align, profile=args.profile or "",
                          header_values=parse_set_options(args.header_values))
    figures = result.figures
    print(f"{result.path}: {figures['method']} of {figures['n_frames']} frames "
          f"({result.header['STACKENG']}, aligned by {figures['align']}), EXPTIME "
          f"{figures['exptime_s']:g} s (total {figures['total_exptime_s']:g} s), background "
          f"noise x{figures['noise_ratio']:.3f} of the first frame's (1/sqrt(N_eff) = "
          f"{figures['noise_ratio_expected']:.3f}), {figures['seconds']:.2f} s; weight map "
          f"{result.weight_path}")
    return EXIT_OK


def _cmd_psfstars(args, config):
    from ccdphot.stack.psfstars import write_psf_stars

    result = write_psf_stars(args.source, config, out_dir=args.out, grid=args.grid,
                             profile=args.profile or "",
                             header_values=parse_set_options(args.header_values))
    print(f"{result['n_stars']} PSF stars of {result['frame']} -> "
          + ", ".join(str(path) for path in result["files"]))
    return EXIT_OK


def _cmd_cmd(args):
    from ccdphot.stack.cmd import write_cmd

    result = write_cmd(args.first, args.second, args.out, radius_arcsec=args.radius_arcsec)
    print(f"{result['n_matched']} stars in both frames ({result['magnitudes']} magnitudes) -> "
          + ", ".join(str(path) for path in result["files"]))
    return EXIT_OK
