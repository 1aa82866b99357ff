"""CCDPhot ``*_obs.info`` telescope templates, read into a :class:`~ccdphot.header.profiles.Profile`.

Format (one line per keyword): ``DESCRIPTION : FITS KEY : standard KEY : FORMAT :
VALUE(s) : COMMENT : CONF FLAG``; ``###`` lines are instructions, ``#`` lines
comments or section headers; CRLF line endings are common.
"""

import logging
import re
from pathlib import Path

from ccdphot.errors import InputError
from ccdphot.header.telescope import (
    MATCH_KEYS,
    PROFILE_TABLES,
    STANDARD_IMAGE_TYPES,
    Profile,
)

log = logging.getLogger(__name__)


# obs.info standard keywords that ccdphot names differently.
_OBSINFO_RENAMES = {"OBSTYPE": "IMAGETYP"}


_OBSINFO_FORMATS = {"str": str, "int": int, "float": float}


_FIELD_SEPARATOR = re.compile(r"\s+:\s+|\s+:$|^:\s+")


_FITS_KEY = re.compile(r"^[A-Z0-9_-]{1,8}$")


def _obsinfo_fields(line, path, number):
    fields = [f.strip() for f in _FIELD_SEPARATOR.split(line.strip())]
    if len(fields) < 5:
        raise InputError(
            f"{path} line {number}: expected 'DESCRIPTION : FITS KEY : standard KEY : "
            f"FORMAT : VALUE(s) [: COMMENT : FLAG]' (fields separated by ' : '), found "
            f"{len(fields)} field(s); fix or comment out the line with '#'")
    description, fits_key, standard, fmt, value = fields[:5]
    comment = fields[5] if len(fields) > 5 else ""
    if not _FITS_KEY.match(standard):
        raise InputError(f"{path} line {number}: standard keyword {standard!r} is not a FITS "
                         "keyword (up to 8 characters A-Z 0-9 - _)")
    if fits_key != "-" and not _FITS_KEY.match(fits_key):
        raise InputError(f"{path} line {number}: FITS keyword {fits_key!r} is not a FITS "
                         "keyword; use '-' when the value is given in the VALUE column")
    return description, fits_key, standard, fmt, value, comment


def _obsinfo_value(text, fmt, path, number):
    convert = _OBSINFO_FORMATS.get(fmt, str)
    try:
        return convert(text) if convert is not int else int(float(text))
    except ValueError as err:
        raise InputError(f"{path} line {number}: value {text!r} is not of format {fmt}; "
                         "fix the VALUE column") from err


def _obsinfo_translation(value, path, number, what):
    """'zero, dark | BIAS, DARK' -> {'zero': 'BIAS', 'dark': 'DARK'}."""
    parts = [p.strip() for p in value.split("|")]
    if len(parts) != 2:
        raise InputError(f"{path} line {number}: {what} must be 'header values | standard "
                         f"values' (one '|'), got {value!r}")
    left = [v.strip() for v in parts[0].split(",") if v.strip()]
    right = [v.strip() for v in parts[1].split(",") if v.strip()]
    if len(left) != len(right):
        raise InputError(f"{path} line {number}: {what} lists {len(left)} header value(s) "
                         f"but {len(right)} standard value(s); they must pair up")
    return dict(zip(left, right))


def _obsinfo_site(tables, standard, fits_key, value, fmt, path, number):
    """Observatory coordinates: the template's longitude is positive to the West."""
    if value == "-":
        tables["keywords"][standard] = fits_key
        return
    number_value = _obsinfo_value(value, "float", path, number)
    if standard == "LONGITUD":
        east = -number_value % 360.0
        tables["site"]["longitude_east_deg"] = east - 360.0 if east > 180.0 else east
    elif standard == "LATITUDE":
        tables["site"]["latitude_deg"] = number_value
    else:
        tables["site"]["altitude_m"] = number_value


def _obsinfo_calibration(tables, standard, fits_key, value, path, number):
    calibration = tables["calibration"]
    if standard == "OVERSCAN":
        calibration["overscan"] = "" if value.lower() in ("no", "-", "none", "") else value
    elif standard == "TRIMSEC":
        if fits_key != "-":
            tables["keywords"]["TRIMSEC"] = fits_key
        if value != "-":
            calibration["trimsec"] = value
    else:
        name = "flat_low_adu" if standard == "FLATLOW" else "flat_high_adu"
        calibration[name] = _obsinfo_value(value, "float", path, number)


def read_obsinfo(path):
    """Read a CCDPhot ``*_obs.info`` template into a :class:`Profile`.

    A malformed line raises :class:`InputError` naming the file and the line
    number. Longitudes (positive West in the template) become
    ``[site] longitude_east_deg``; the read-noise unit is taken from the
    COMMENT column (``ADU`` or ``e``).
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as err:
        raise InputError(f"cannot read {path}: {err.strerror}") from err
    tables = {t: {} for t in PROFILE_TABLES if t != "modes"}
    modes = []
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        _, fits_key, standard, fmt, value, comment = _obsinfo_fields(line, path, number)
        standard = _OBSINFO_RENAMES.get(standard, standard)
        if standard in ("IMAGETYP", "FILTER"):
            if fits_key != "-":
                tables["keywords"][standard] = fits_key
            if value != "-":
                mapping = _obsinfo_translation(value, path, number, standard)
                if standard == "IMAGETYP":
                    mapping = {k: v.lower().replace("zero", "bias") for k, v in mapping.items()}
                    for header_value, kind in mapping.items():
                        if kind not in STANDARD_IMAGE_TYPES:
                            raise InputError(
                                f"{path} line {number}: image type {kind!r} (for "
                                f"{header_value!r}) is not one of BIAS, DARK, FLAT, OBJECT")
                tables["imagetyp" if standard == "IMAGETYP" else "filters"].update(mapping)
            continue
        if standard in ("LONGITUD", "LATITUDE", "ALTITUDE"):
            _obsinfo_site(tables, standard, fits_key, value, fmt, path, number)
            continue
        if standard in ("OVERSCAN", "TRIMSEC", "FLATLOW", "FLATHIGH"):
            _obsinfo_calibration(tables, standard, fits_key, value, path, number)
            continue
        if standard == "RDNOISE":
            tables["units"]["RDNOISE"] = "adu" if "adu" in comment.lower() else "e"
        if fits_key != "-" and (value == "-" or "|" not in value):
            tables["keywords"][standard] = fits_key
        if value == "-":
            continue
        parts = [p.strip() for p in value.split("|")]
        if len(parts) == 1:
            tables["values"][standard] = _obsinfo_value(value, fmt, path, number)
            if standard in MATCH_KEYS:
                tables["match"][standard] = str(tables["values"][standard])
            continue
        if modes and len(parts) != len(modes):
            raise InputError(f"{path} line {number}: {len(parts)} camera mode value(s) "
                             f"where earlier lines give {len(modes)}; every '|' line must "
                             "list the same number of modes")
        if not modes:
            modes = [{} for _ in parts]
        for mode, text in zip(modes, parts):
            converted = _obsinfo_value(text, fmt, path, number)
            if fits_key != "-":
                mode.setdefault("when", {})[fits_key] = converted
            else:
                mode[standard] = converted
    match = tables["match"]
    if "OBSERVAT" in match and "INSTRUME" in match:  # the template's own naming rule
        name = f"{match['OBSERVAT']}_{match['INSTRUME']}"
    else:
        name = path.name[:-len("_obs.info")] if path.name.endswith("_obs.info") else path.stem
    return Profile(name=name, source=f"converted from {path.name} by ccdphot profile convert",
                   modes=tuple(modes), **tables)
