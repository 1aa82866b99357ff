"""The unified per-frame table: one row per detection, one column per method.

Rows come from the SExtractor detection list and are keyed by NUMBER; every
method fills its columns by NUMBER, so a star a method lost stays masked.
Column order and units are those of DESIGN.md.
"""

from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.table import Column, MaskedColumn, Table, vstack

from ccdphot.magnitudes import UNDEFINED_MAG
from ccdphot.products import (
    PHOTOMETRY_ECSV,
    PHOTOMETRY_TXT,
    write_table_atomic,
    write_text_atomic,
)

# name, dtype, unit, description
COLUMNS = (
    ("NUMBER", "i4", None, "detection number (SExtractor)"),
    ("ALPHA_J2000", "f8", u.deg, "right ascension (ICRS) from the frame WCS"),
    ("DELTA_J2000", "f8", u.deg, "declination (ICRS) from the frame WCS"),
    ("X_PSF", "f8", u.pix, "x of the PSF fit (FITS convention, first pixel 1.0)"),
    ("Y_PSF", "f8", u.pix, "y of the PSF fit (FITS convention, first pixel 1.0)"),
    ("MAG_PSF", "f8", u.mag, "instrumental PSF-fitting magnitude (ALLSTAR)"),
    ("MAGERR_PSF", "f8", u.mag, "error of MAG_PSF"),
    ("MAG_APER", "f8", u.mag, "instrumental aperture magnitude"),
    ("MAGERR_APER", "f8", u.mag, "error of MAG_APER"),
    ("MAG_AUTO", "f8", u.mag, "instrumental Kron-like magnitude (SExtractor)"),
    ("MAGERR_AUTO", "f8", u.mag, "error of MAG_AUTO"),
    ("X_IMAGE", "f8", u.pix, "x of the detection (FITS convention)"),
    ("Y_IMAGE", "f8", u.pix, "y of the detection (FITS convention)"),
    ("FWHM_IMAGE", "f8", u.pix, "FWHM of the detection (SExtractor)"),
    ("FLAGS", "i4", None, "SExtractor extraction flags"),
    ("CHI", "f8", None, "PSF fit chi (ALLSTAR)"),
    ("SHARP", "f8", None, "PSF fit sharpness (ALLSTAR)"),
)
CALIBRATED_COLUMNS = (
    ("MAG_CAL", "f8", u.mag, "calibrated magnitude (zeropoint step)"),
    ("MAGERR_CAL", "f8", u.mag, "error of MAG_CAL"),
    ("FLAGS_CAL", "i4", None, "calibration flags: 1 no catalogue colour (median assumed), "
     "2 colour outside the transformation's range, 4 used in the zero point, 8 rejected, "
     "16 blended (neighbours add light within [zeropoint] isolation_arcsec)"),
)

# Added by the psf step's residual passes only (ccdphot/daophot/second_pass.py).
PASS_COLUMN = ("DETECTION_PASS", "i2", None,
               "1: detection list; k > 1: found in the star-subtracted image of pass k-1")


def new_unified(numbers, calibrated=False):
    """An all-masked unified table with one row per detection NUMBER."""
    numbers = np.asarray(numbers, dtype="i4")
    n = len(numbers)
    table = Table(masked=True)
    for name, dtype, unit, description in COLUMNS + (CALIBRATED_COLUMNS if calibrated else ()):
        if name == "NUMBER":
            table[name] = MaskedColumn(numbers, dtype=dtype, description=description)
        else:
            table[name] = MaskedColumn(np.zeros(n, dtype=dtype), mask=np.ones(n, bool),
                                       unit=unit, description=description)
    return table


def add_calibrated_columns(table):
    """Append MAG_CAL/MAGERR_CAL (all masked) if the table lacks them."""
    n = len(table)
    for name, dtype, unit, description in CALIBRATED_COLUMNS:
        if name not in table.colnames:
            table[name] = MaskedColumn(np.zeros(n, dtype=dtype), mask=np.ones(n, bool),
                                       unit=unit, description=description)


def with_rows_found_by_pass(table, numbers, pass_number):
    """The table plus all-masked rows for ``numbers``, stars found by pass ``pass_number``.

    Their SExtractor columns stay masked (they are not in the detection list);
    DETECTION_PASS (added when missing, 1 for the detection list) records the pass.
    """
    name, dtype, unit, description = PASS_COLUMN
    if name not in table.colnames:
        table[name] = MaskedColumn(np.ones(len(table), dtype=dtype), unit=unit,
                                   description=description)
    rows = new_unified(numbers, calibrated="MAG_CAL" in table.colnames)
    rows[name] = MaskedColumn(np.full(len(rows), pass_number, dtype=dtype), unit=unit,
                              description=description)
    merged = vstack([table, rows[table.colnames]], join_type="exact", metadata_conflicts="silent")
    merged.meta.update(table.meta)
    return merged


def fill_by_number(table, source, columns):
    """Copy ``columns`` (unified name -> source name) from ``source`` into ``table``.

    Rows are matched by NUMBER. Values that are NaN, masked or magnitude
    sentinels (>= 90) stay masked. Returns the number of rows filled.
    """
    row_of = {int(n): i for i, n in enumerate(table["NUMBER"])}
    src_numbers = np.asarray(source["NUMBER"], dtype=int)
    rows = np.array([row_of.get(n, -1) for n in src_numbers], dtype=int)
    hit = rows >= 0
    for name, src_name in columns.items():
        values = source[src_name]
        mask = np.ma.getmaskarray(values).copy()
        values = np.asarray(np.ma.getdata(values), dtype=float)
        mask |= ~np.isfinite(values)
        if table[name].unit == u.mag:
            mask |= values >= UNDEFINED_MAG
        target = table[name]
        target[rows[hit]] = values[hit]
        target.mask[rows[hit]] = mask[hit]
    return int(hit.sum())


def sky_positions(table, wcs):
    """Fill ALPHA_J2000/DELTA_J2000 from the best pixel position of each row.

    The PSF position is used where the psf step measured one, else the
    detection position. Pixel coordinates are FITS (1-based), astropy's are 0-based.
    """
    use_psf = ~np.ma.getmaskarray(table["X_PSF"])
    x = np.where(use_psf, np.ma.getdata(table["X_PSF"]), np.ma.getdata(table["X_IMAGE"]))
    y = np.where(use_psf, np.ma.getdata(table["Y_PSF"]), np.ma.getdata(table["Y_IMAGE"]))
    known = ~(np.ma.getmaskarray(table["X_IMAGE"]) & ~use_psf)
    ra, dec = wcs.celestial.all_pix2world(x - 1.0, y - 1.0, 0)
    for name, values in (("ALPHA_J2000", ra), ("DELTA_J2000", dec)):
        table[name][known] = values[known]
        table[name].mask[known] = ~np.isfinite(values[known])


def text_formats():
    """printf formats of the classic text table, per column."""
    formats = {}
    for name, dtype, unit, _ in COLUMNS + CALIBRATED_COLUMNS + (PASS_COLUMN,):
        if dtype.startswith("i"):
            formats[name] = "{:7d}"
        elif name in ("ALPHA_J2000", "DELTA_J2000"):
            formats[name] = "{:12.7f}"
        elif unit == u.mag:
            formats[name] = "{:8.4f}"
        else:
            formats[name] = "{:9.3f}"
    return formats


MISSING_TEXT = -9.9999


def to_text(table):
    """The classic fixed-width text table: '#' header with units, -9.9999 where missing."""
    formats = text_formats()
    widths = {name: len(formats[name].format(0)) for name in table.colnames}
    head = " ".join(f"{name:>{widths[name]}}" for name in table.colnames)
    units = " ".join(f"{str(table[name].unit or ''):>{widths[name]}}" for name in table.colnames)
    lines = ["#" + head[1:], "#" + units[1:]]
    columns = [(formats[name], widths[name], table[name]) for name in table.colnames]
    data = [(np.ma.getdata(col), np.ma.getmaskarray(col)) for _, _, col in columns]
    for i in range(len(table)):
        cells = []
        for (fmt, width, _), (values, mask) in zip(columns, data):
            if mask[i]:
                cells.append(f"{MISSING_TEXT:>{width}.4f}")
            else:
                cells.append(fmt.format(values[i]))
        lines.append(" ".join(cells))
    return "\n".join(lines) + "\n"


def _unmasked_where_complete(table):
    """A copy with plain columns where no value is missing.

    The ECSV file is the same (astropy reads such columns back as plain ones
    anyway), but astropy writes plain columns several times faster.
    """
    copy = Table(table, masked=False, copy=False)
    for name in copy.colnames:
        column = copy[name]
        if isinstance(column, MaskedColumn) and not column.mask.any():
            copy[name] = Column(column.data, name=name, unit=column.unit,
                                description=column.description, meta=column.meta)
    return copy


def write_photometry(out_dir, table):
    """Write the unified table as ``photometry.ecsv`` and ``photometry.txt``."""
    out_dir = Path(out_dir)
    write_table_atomic(_unmasked_where_complete(table), out_dir / PHOTOMETRY_ECSV,
                       format="ascii.ecsv")
    write_text_atomic(out_dir / PHOTOMETRY_TXT, to_text(table))
