"""Reference lists for the astrometry tools, written from a schema table.

- SCAMP: a FITS_LDAC file (``LDAC_IMHEAD`` + ``LDAC_OBJECTS`` with X_WORLD,
  Y_WORLD, ERRA_WORLD, ERRB_WORLD, MAG, MAGERR, OBSDATE, FLAGS), read by SCAMP with
  ``ASTREF_CATALOG FILE`` and ``ASTREFCAT_NAME <file>``.
- WCSTools (imwcs ``-c file.tab``): a Starbase tab table, header keywords,
  then a ``id ra dec mag`` column line, a dashes line and tab-separated rows,
  ra/dec in degrees.
- IRAF (ccxymatch/ccmap reference list): whitespace-separated ``ra dec mag``
  rows after ``#`` comment lines; ra in DEGREES, so set ``lngunits=degrees``.

All files are written atomically.
"""

import numpy as np
from astropy import units as u
from astropy.io import fits
from astropy.table import Table

from ccdphot.catalogs.schema import error_name
from ccdphot.errors import CatalogError
from ccdphot.products import atomic_target, write_text_atomic

# SCAMP weights stars by their position errors; a catalogue without errors gets this.
DEFAULT_POSITION_ERROR_MAS = 100.0
# ... and a magnitude without error gets this (SCAMP only uses MAG for ranges and plots).
DEFAULT_MAG_ERROR = 0.1
MISSING_MAG = 99.0


def _band_values(table, band):
    """(mag, magerr) arrays for ``band``: 99 where missing, default errors where unknown."""
    n = len(table)
    if band is None or band not in table.colnames:
        return np.full(n, MISSING_MAG), np.full(n, DEFAULT_MAG_ERROR)
    mag = _filled(table[band], MISSING_MAG)
    err_name = error_name(band)
    err = (_filled(table[err_name], DEFAULT_MAG_ERROR) if err_name in table.colnames
           else np.full(n, DEFAULT_MAG_ERROR))
    return mag, err


def _filled(column, fill):
    """A (masked) column as a plain float array, ``fill`` where masked or not finite."""
    values = np.asarray(np.ma.filled(np.ma.asarray(column, dtype=float), fill), dtype=float)
    return np.where(np.isfinite(values), values, fill)


def _check(table, what):
    if len(table) == 0:
        raise CatalogError(f"cannot write {what}: the reference table has no star")


def ldac_imhead(header):
    """The LDAC_IMHEAD HDU: one row holding the header as 80-character cards."""
    text = header.tostring(sep="", endcard=True, padding=False)
    ncards = len(text) // 80
    # One byte string of 80-character cards (an array of cards gets every card's
    # blank tail NUL-padded); TDIM is added afterwards, astropy cannot reshape a
    # single string.
    column = fits.Column(name="Field Header Card", format=f"{len(text)}A",
                         array=np.array([text.encode("ascii")], dtype=f"S{len(text)}"))
    hdu = fits.BinTableHDU.from_columns([column], name="LDAC_IMHEAD")
    hdu.header.insert("TFORM1", ("TDIM1", f"(80, {ncards})"), after=True)
    return hdu


def write_scamp_reference(table, path, band="G"):
    """Write ``table`` as a SCAMP FITS_LDAC reference catalogue; return the path.

    ``band`` fills MAG/MAGERR (99 where missing). Position errors go to
    ERRA/ERRB_WORLD in degrees (100 mas where unknown); OBSDATE is the epoch
    of each position in Julian years (2000.0 where unknown).
    """
    _check(table, f"the SCAMP reference {path}")
    n = len(table)
    mag, magerr = _band_values(table, band)
    erra, errb = ((_filled(table[name], DEFAULT_POSITION_ERROR_MAS) * u.mas).to_value(u.deg)
                  for name in ("ra_error", "dec_error"))
    obsdate = _filled(table["epoch"], 2000.0)
    columns = [
        fits.Column(name="X_WORLD", format="1D", unit="deg",
                    array=np.asarray(table["ra"], float)),
        fits.Column(name="Y_WORLD", format="1D", unit="deg",
                    array=np.asarray(table["dec"], float)),
        fits.Column(name="ERRA_WORLD", format="1E", unit="deg", array=erra),
        fits.Column(name="ERRB_WORLD", format="1E", unit="deg", array=errb),
        fits.Column(name="MAG", format="1E", unit="mag", array=mag),
        fits.Column(name="MAGERR", format="1E", unit="mag", array=magerr),
        fits.Column(name="OBSDATE", format="1D", unit="yr", array=obsdate),
        fits.Column(name="FLAGS", format="1I", array=np.zeros(n, dtype=np.int16)),
    ]
    objects = fits.BinTableHDU.from_columns(columns, name="LDAC_OBJECTS")
    imhead = fits.Header()
    imhead["NAXIS"] = 0
    imhead["CATALOG"] = (str(table.meta.get("catalog", "")), "ccdphot reference catalogue")
    imhead["NSTARS"] = (n, "stars in LDAC_OBJECTS")
    imhead["MAGBAND"] = (str(band), "band of MAG")
    hdul = fits.HDUList([fits.PrimaryHDU(), ldac_imhead(imhead), objects])
    with atomic_target(path) as tmp:
        hdul.writeto(tmp, overwrite=True)
    return path


def read_scamp_reference(path):
    """The LDAC_OBJECTS table of a SCAMP reference file (for checks and tests)."""
    return Table.read(path, hdu="LDAC_OBJECTS")


def write_text_list(table, path, band="G", style="iraf"):
    """Write ``ra dec mag`` text for WCSTools (``style="wcstools"``) or IRAF ("iraf").

    ra and dec are in degrees (IRAF: ``lngunits=degrees latunits=degrees``);
    stars without ``band`` get magnitude 99.
    """
    _check(table, f"the {style} reference list {path}")
    mag, _ = _band_values(table, band)
    ra = np.asarray(table["ra"], float)
    dec = np.asarray(table["dec"], float)
    source = table.meta.get("catalog", "reference")
    if style == "wcstools":
        lines = [f"catalog\t{source}", "radecsys\tICRS", "equinox\t2000.0",
                 f"epoch\t{_mean_epoch(table):.3f}", f"magband\t{band}",
                 "id\tra\tdec\tmag", "--\t--\t--\t--"]
        lines += [f"{i + 1}\t{r:.8f}\t{d:+.8f}\t{m:.3f}"
                  for i, (r, d, m) in enumerate(zip(ra, dec, mag))]
    elif style == "iraf":
        lines = [f"# reference stars from {source}: ra (deg) dec (deg) {band} (mag)",
                 f"# ICRS, positions at epoch J{_mean_epoch(table):.3f}; ccmap/ccxymatch: "
                 "lngunits=degrees latunits=degrees"]
        lines += [f"{r:13.8f} {d:+13.8f} {m:7.3f}" for r, d, m in zip(ra, dec, mag)]
    else:
        raise CatalogError(f"unknown text list style {style!r}; use 'wcstools' or 'iraf'")
    return write_text_atomic(path, "\n".join(lines) + "\n")


def _mean_epoch(table):
    epochs = table["epoch"].compressed() if hasattr(table["epoch"], "compressed") else \
        np.asarray(table["epoch"])
    return float(np.mean(epochs)) if len(epochs) else 2000.0
