"""Subcommand ``ccdphot catalog``: fetch (and cache) reference stars, write them out.

Run it once online to fill the catalogue cache for fields a machine without
network will reduce, or to write the reference lists SCAMP, WCSTools and IRAF
read. Registered by :func:`add_catalog_parser` from :mod:`ccdphot.cli`.
"""

from pathlib import Path

from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.time import Time

from ccdphot.catalogs import (
    frame_epoch,
    frame_region,
    get_reference,
    write_scamp_reference,
    write_text_list,
)
from ccdphot.errors import InputError
from ccdphot.fitsio import celestial_wcs, read_frame
from ccdphot.products import write_table_atomic

EXIT_OK = 0


def add_catalog_parser(sub, add_config_options, config_from_args):
    """Add ``ccdphot catalog`` to the parser; ``config_from_args`` gives the config."""
    catalog = sub.add_parser("catalog", help="reference stars of a field: fill the cache, "
                                             "write ECSV / SCAMP / WCSTools / IRAF lists")
    where = catalog.add_mutually_exclusive_group(required=True)
    where.add_argument("--frame", metavar="FITS", help="the field of this frame (header WCS); "
                                                       "its DATE-OBS sets the epoch")
    where.add_argument("--ra", type=float, metavar="DEG", help="centre right ascension (ICRS)")
    catalog.add_argument("--dec", type=float, metavar="DEG", help="centre declination (ICRS)")
    catalog.add_argument("--radius-arcmin", type=float, metavar="R",
                         help="radius (default with --frame: half the frame diagonal + 5%%)")
    catalog.add_argument("--catalogs", metavar="a,b,...",
                         help="catalogue order (default: [catalogs] order)")
    catalog.add_argument("--refcat", metavar="FILE", help="a local catalogue file instead")
    catalog.add_argument("--epoch", type=float, metavar="JYEAR",
                         help="propagate positions to this Julian year")
    catalog.add_argument("--offline", action="store_true", help="cache and local files only")
    catalog.add_argument("--out", metavar="FILE.ecsv", help="write the table (schema columns)")
    catalog.add_argument("--scamp", metavar="FILE", help="write a SCAMP FITS_LDAC reference")
    catalog.add_argument("--wcstools", metavar="FILE.tab", help="write a WCSTools tab table")
    catalog.add_argument("--iraf", metavar="FILE", help="write an IRAF ra/dec/mag list (deg)")
    catalog.add_argument("--band", default="G", help="magnitude band of the SCAMP/text lists")
    add_config_options(catalog)
    catalog.set_defaults(func=lambda args: _cmd_catalog(args, config_from_args(args)))


def _field(args):
    """(centre, radius, epoch) from --frame or --ra/--dec/--radius-arcmin."""
    epoch = Time(args.epoch, format="jyear") if args.epoch is not None else None
    if args.frame:
        data, header, _ = read_frame(Path(args.frame))
        wcs = celestial_wcs(header)
        if wcs is None:
            raise InputError(f"{args.frame}: no usable WCS in the header; give --ra/--dec/"
                             "--radius-arcmin instead")
        center, radius = frame_region(wcs, data.shape)
        if args.radius_arcmin:
            radius = args.radius_arcmin * u.arcmin
        return center, radius, epoch or frame_epoch(header)
    if args.dec is None or not args.radius_arcmin:
        raise InputError("--ra needs --dec and --radius-arcmin")
    return SkyCoord(args.ra * u.deg, args.dec * u.deg), args.radius_arcmin * u.arcmin, epoch


def _cmd_catalog(args, config):
    center, radius, epoch = _field(args)
    names = [n.strip() for n in args.catalogs.split(",") if n.strip()] if args.catalogs else None
    if args.refcat and not Path(args.refcat).is_file():
        raise InputError(f"--refcat {args.refcat}: no such file")
    table = get_reference(center, radius, catalogs=names, epoch=epoch, config=config,
                          refcat=args.refcat, offline=True if args.offline else None)
    written = []
    if args.out:
        written.append(write_table_atomic(table, args.out, format="ascii.ecsv"))
    if args.scamp:
        written.append(write_scamp_reference(table, args.scamp, band=args.band))
    if args.wcstools:
        written.append(write_text_list(table, args.wcstools, band=args.band, style="wcstools"))
    if args.iraf:
        written.append(write_text_list(table, args.iraf, band=args.band, style="iraf"))
    cached = table.meta.get("cache_file")
    print(f"{table.meta['catalog']}: {len(table)} stars within {radius.to(u.arcmin):.2f} of "
          f"RA {center.ra.deg:.5f} Dec {center.dec.deg:+.5f} ({table.meta.get('source')}"
          + (f"; cache {cached}" if cached else "") + ")"
          + (" -> " + ", ".join(str(p) for p in written) if written else ""))
    return EXIT_OK
