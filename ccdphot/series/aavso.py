"""The AAVSO Extended File Format (version 1.2) of a target light curve.

Six '#' parameters (TYPE, OBSCODE, SOFTWARE, DELIM, DATE, OBSTYPE), then one
comma-separated line per observation: NAME, DATE, MAG, MERR, FILT, TRANS,
MTYPE, CNAME, CMAG, KNAME, KMAG, AMASS, GROUP, CHART, NOTES, with "na" where a
value is not known. AAVSO takes dates as JD or HJD (not BJD), so DATE is the
mid-exposure JD (UTC) unless HJD is asked for; the BJD_TDB times are in the
ECSV/CSV light curve. With comparison stars on a calibrated scale (MAG_CAL)
the magnitudes are standard (MTYPE STD); otherwise they are differential
(DIF) against the ensemble, whose instrumental magnitude is CMAG. Optional
columns serve a light curve of standard points from many telescopes (the
calibration server): IS_UPPER_LIMIT (a "fainter than" mark, "<" before MAG),
AAVSO_FILTER (the row's filter code, as given) and NOTES (the row's notes).
"""

import logging
import math

import numpy as np

from ccdphot import __version__

log = logging.getLogger(__name__)

FIELDS = ("NAME", "DATE", "MAG", "MERR", "FILT", "TRANS", "MTYPE", "CNAME", "CMAG", "KNAME",
          "KMAG", "AMASS", "GROUP", "CHART", "NOTES")
# AAVSO filter codes (a selection) and the names telescopes use for an unfiltered frame
AAVSO_FILTERS = ("U", "B", "V", "R", "I", "J", "H", "K", "TG", "TB", "TR", "CV", "CR", "SZ",
                 "SU", "SG", "SR", "SI", "STU", "STV", "STB", "STY", "HA", "HAC", "O", "Y")
CLEAR_NAMES = ("clear", "c", "none", "open", "l", "lum", "luminance")
# Standard bands of the zeropoint step -> AAVSO codes (Gaia G has none: written as "G").
BAND_CODES = {"U": "U", "B": "B", "V": "V", "R": "R", "I": "I", "u": "SU", "g": "SG",
              "r": "SR", "i": "SI", "z": "SZ", "J": "J", "H": "H", "K": "K", "Ks": "K"}


def aavso_band_code(band):
    """The AAVSO filter code of a standard band (zeropoint step), or the band itself."""
    return BAND_CODES.get(str(band), str(band) or "na")


def aavso_filter(name):
    """The AAVSO filter code for a FILTER value ('CV' for clear), or the name itself."""
    text = (name or "").strip()
    if text.upper() in AAVSO_FILTERS:
        return text.upper()
    if text.lower() in CLEAR_NAMES:
        return "CV"
    if text.lower() in ("rc", "ic"):
        return text[0].upper()
    log.warning("filter %r has no AAVSO code; written as it is (give --aavso-filter)", text)
    return text or "na"


def _number(value, digits):
    if value is None or np.ma.is_masked(value) or not math.isfinite(float(value)):
        return "na"
    return f"{float(value):.{digits}f}"


def aavso_extended(lightcurve, star_name, obscode="na", date="JD", filter_code=None,
                   check_name="na", comparison_names=(), chart="na"):
    """The AAVSO Extended File text of a target light curve table.

    ``lightcurve`` has DMAG, DMAG_ERR, JD_UTC/HJD_UTC, AIRMASS, FILTER, and
    optionally MAG_CAL_ENS, ENSEMBLE_MAG, CHECK_DMAG/CHECK_MAG_INST,
    IS_UPPER_LIMIT, AAVSO_FILTER, NOTES. Rows without a magnitude are left out.
    """
    date = date.upper()
    if date not in ("JD", "HJD"):
        raise ValueError(f"AAVSO dates are JD or HJD, not {date}")
    time_column = "JD_UTC" if date == "JD" else "HJD_UTC"
    standard = "MAG_CAL_ENS" in lightcurve.colnames
    notes = (f"ensemble of {len(comparison_names)}: " + " ".join(comparison_names)
             if comparison_names else "na")
    lines = ["#TYPE=EXTENDED", f"#OBSCODE={obscode}",
             f"#SOFTWARE=ccdphot {__version__} (lightcurve)", "#DELIM=,", f"#DATE={date}",
             "#OBSTYPE=CCD",
             f"#NOTE: DATE is the mid-exposure {date} (UTC); magnitudes are "
             + ("standard (comparisons calibrated by the zeropoint step)" if standard else
                "differential: target minus the weighted comparison ensemble"),
             "#" + ",".join(FIELDS)]
    for row in lightcurve:
        magnitude = row["MAG_CAL_ENS"] if standard else row["DMAG"]
        if np.ma.is_masked(magnitude) or np.ma.is_masked(row[time_column]):
            continue
        check = "na"
        if "CHECK_DMAG" in lightcurve.colnames:
            if standard:
                check = _number(row["CHECK_DMAG"] + (row["MAG_CAL_ENS"] - row["DMAG"]), 3)
            else:
                check = _number(row["CHECK_MAG_INST"], 3)
        cmag = "na" if standard else _number(row["ENSEMBLE_MAG"], 3)
        limit = "IS_UPPER_LIMIT" in lightcurve.colnames and bool(row["IS_UPPER_LIMIT"])
        code = (str(row["AAVSO_FILTER"]) if "AAVSO_FILTER" in lightcurve.colnames else
                filter_code or aavso_filter(str(row["FILTER"])))
        values = (star_name, _number(row[time_column], 5),
                  ("<" if limit else "") + _number(magnitude, 3),
                  "na" if limit else _number(row["DMAG_ERR"], 3), code,
                  "NO", "STD" if standard else "DIF", "ENSEMBLE", cmag, check_name, check,
                  _number(row["AIRMASS"], 3), "na", chart,
                  str(row["NOTES"]) if "NOTES" in lightcurve.colnames else notes)
        lines.append(",".join(str(v).replace(",", ";") for v in values))
    return "\n".join(lines) + "\n"
