"""Light curves for period search: read them, check them, fail clearly.

A light curve is an astropy Table with float columns ``t`` (time, days, in the
file's own scale), ``mag`` and ``err`` (magnitudes), its file name in
``meta["name"]``. Readable are plain text ``t mag err`` files (VARTOOLS's layout,
``#`` comments allowed) and ECSV tables such as ``ccdphot lightcurve``'s
``target_lc.ecsv`` (``BJD_TDB``, ``DMAG``, ``DMAG_ERR``), whose time, magnitude and
error columns are found by name (or given).
"""

import logging
from pathlib import Path

import numpy as np
from astropy.table import Table

from ccdphot.errors import InputError

log = logging.getLogger(__name__)

# Column names tried in order when an ECSV table does not say which to use.
TIME_COLUMNS = ("BJD_TDB", "HJD_UTC", "JD_UTC", "MJD_UTC", "BJD", "HJD", "JD", "MJD", "TIME",
                "t", "time")
MAG_COLUMNS = ("DMAG", "MAG_CAL_ENS", "MAG_CAL", "MAG", "mag", "magnitude")
ERR_COLUMNS = ("DMAG_ERR", "MAGERR_CAL", "MAGERR", "MAG_ERR", "err", "mag_err", "magerr")


class LightCurveError(InputError):
    """A light curve cannot be searched: empty, constant, NaNs, bad times, too short."""


def _pick(table, given, candidates, what, path):
    if given:
        if given not in table.colnames:
            raise LightCurveError(f"{path.name}: no column '{given}' (has "
                                  f"{', '.join(table.colnames)})")
        return given
    for name in candidates:
        if name in table.colnames:
            return name
    raise LightCurveError(f"{path.name}: no {what} column (looked for {', '.join(candidates)}); "
                          "name it with --columns T,MAG,ERR")


def read_lightcurve(path, columns=None):
    """Read ``path`` as a light curve Table (t, mag, err); see the module docstring.

    ``columns`` is an optional (time, mag, err) triple of column names for ECSV
    tables. The result is checked with :func:`check_lightcurve`.
    """
    path = Path(path)
    if not path.is_file():
        raise LightCurveError(f"{path}: no such light-curve file")
    time_col, mag_col, err_col = columns or (None, None, None)
    if path.suffix.lower() == ".ecsv":
        try:
            table = Table.read(path, format="ascii.ecsv")
        except Exception as err:  # astropy raises many kinds for a broken file
            raise LightCurveError(f"{path.name}: not a readable ECSV table ({err})") from err
        names = (_pick(table, time_col, TIME_COLUMNS, "time", path),
                 _pick(table, mag_col, MAG_COLUMNS, "magnitude", path),
                 _pick(table, err_col, ERR_COLUMNS, "magnitude-error", path))
        data = _unmasked_rows(table, names, path)
    else:
        data = _read_text(path)
    lc = Table({"t": data[0], "mag": data[1], "err": data[2]}, meta={"name": path.name})
    return check_lightcurve(lc)


def _unmasked_rows(table, names, path):
    """The columns ``names`` as float arrays, without the rows where one is missing.

    A masked cell in an ECSV light curve is a frame without a measurement (e.g.
    ``ccdphot lightcurve``'s target_lc.ecsv), not bad data: such rows are left out
    and counted in the log. NaN values that are not masked stay, and are refused.
    """
    columns = [np.ma.asarray(table[n], dtype=float) for n in names]
    missing = np.zeros(len(table), dtype=bool)
    for column in columns:
        missing |= np.ma.getmaskarray(column)
    if missing.any():
        log.info("%s: %d row(s) without a value in %s left out", path.name, missing.sum(),
                 ", ".join(names))
    return [np.ma.getdata(column)[~missing] for column in columns]


def _read_text(path):
    try:
        rows = np.loadtxt(path, comments="#", ndmin=2, usecols=(0, 1, 2))
    except (ValueError, IndexError) as err:
        raise LightCurveError(f"{path.name}: not a 't mag err' text light curve ({err}); "
                              "give three numeric columns or an ECSV table") from err
    return rows[:, 0], rows[:, 1], rows[:, 2]


def check_lightcurve(lc, min_points=5):
    """Return ``lc`` if it can be searched, else raise :class:`LightCurveError`.

    Refused, with the reason: fewer than ``min_points`` points, NaN or infinite
    values, errors not positive, times not strictly increasing (unsorted or
    duplicated; sort and merge them first, ccdphot will not guess which duplicate
    is right), a constant magnitude.
    """
    name = lc.meta.get("name", "light curve")
    n = len(lc)
    if n == 0:
        raise LightCurveError(f"{name}: the light curve is empty")
    for column in ("t", "mag", "err"):
        bad = ~np.isfinite(np.asarray(lc[column], dtype=float))
        if bad.any():
            raise LightCurveError(f"{name}: {bad.sum()} NaN or infinite value(s) in '{column}' "
                                  f"(first at row {int(np.argmax(bad)) + 1}); remove those rows")
    if n < min_points:
        raise LightCurveError(f"{name}: {n} point(s); at least {min_points} are needed")
    if (np.asarray(lc["err"]) <= 0).any():
        raise LightCurveError(f"{name}: magnitude errors must be positive (found "
                              f"{int((np.asarray(lc['err']) <= 0).sum())} <= 0)")
    step = np.diff(np.asarray(lc["t"], dtype=float))
    if (step < 0).any():
        raise LightCurveError(f"{name}: times are not sorted (row {int(np.argmax(step < 0)) + 2} "
                              "is earlier than the row before); sort the light curve by time")
    if (step == 0).any():
        raise LightCurveError(f"{name}: duplicate times (row {int(np.argmax(step == 0)) + 2}); "
                              "merge or remove repeated points")
    mag = np.asarray(lc["mag"], dtype=float)
    if np.ptp(mag) == 0:
        raise LightCurveError(f"{name}: the magnitude is constant ({mag[0]}); nothing to search")
    return lc


def require_points(lc, needed, what):
    """Raise :class:`LightCurveError` unless ``lc`` has more than ``needed`` points."""
    if len(lc) <= needed:
        raise LightCurveError(f"{lc.meta.get('name', 'light curve')}: {len(lc)} points are too "
                              f"few for {what} (needs more than {needed})")


def check_period_range(lc, min_period, max_period):
    """Raise :class:`LightCurveError` for a period range the data cannot answer."""
    name = lc.meta.get("name", "light curve")
    span = float(lc["t"][-1] - lc["t"][0])
    if not 0 < min_period < max_period:
        raise LightCurveError(f"{name}: period range {min_period}..{max_period} d is empty or "
                              "not positive; give 0 < --min-period < --max-period")
    if min_period >= span:
        raise LightCurveError(f"{name}: the shortest period asked ({min_period} d) is not "
                              f"shorter than the data's span ({span:.5g} d)")
    return span
