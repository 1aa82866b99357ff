"""Reading single header values the way observers write them: filter names, image
types, dates and angles, each turned into its standard form or a clear error."""

import logging
import re
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.coordinates import Angle
from astropy.time import Time

from ccdphot.errors import ConfigError, InputError

log = logging.getLogger(__name__)


IMAGE_TYPES = {
    "bias": "bias", "zero": "bias", "offset": "bias", "bias frame": "bias",
    "dark": "dark", "dark frame": "dark", "dark current": "dark",
    "flat": "flat", "flatfield": "flat", "flat field": "flat", "flat frame": "flat",
    "sky flat": "flat", "skyflat": "flat", "dome flat": "flat", "domeflat": "flat",
    "twilight flat": "flat", "twflat": "flat", "flat-field": "flat",
    "object": "object", "light": "object", "light frame": "object", "science": "object",
    "sci": "object", "target": "object",
}


_FILE_NAME_TYPES = {"bias": "bias", "biases": "bias", "zero": "bias", "dark": "dark",
                    "darks": "dark", "flat": "flat", "flats": "flat", "flatfield": "flat"}


STANDARD_FILTERS = ("U", "B", "V", "R", "I", "u", "g", "r", "i", "z", "y", "G", "BP", "RP",
                    "J", "H", "K", "clear")


_FILTER_ALIASES = {"rc": "R", "ic": "I", "rj": "R", "ij": "I", "uj": "U", "bj": "B",
                   "vj": "V", "u'": "u", "g'": "g", "r'": "r", "i'": "i", "z'": "z",
                   "gp": "g", "rp": "r", "ip": "i", "zp": "z", "up": "u", "ks": "K",
                   "clear": "clear", "c": "clear", "open": "clear", "none": "clear",
                   "no filter": "clear", "l": "clear", "lum": "clear",
                   "luminance": "clear"}


_FILTER_SYSTEMS = re.compile(r"^(johnson|bessell|cousins|sdss|sloan|gaia)[\s_-]*", re.I)


_SLOAN_PREFIX = re.compile(r"^(sdss|sloan)", re.I)


def is_blank(value):
    return value is None or (isinstance(value, str) and not value.strip())


def as_float(value, key, source):
    try:
        number = float(str(value).strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError) as err:
        raise InputError(f"{source}: {key}={value!r} is not a number; fix the header, or "
                         f"give --set {key}=VALUE") from err
    if not np.isfinite(number):
        raise InputError(f"{source}: {key}={value!r} is not a finite number; give --set "
                         f"{key}=VALUE")
    return number


def standard_filter(raw, profile=None):
    """(standard filter name, True) or (the stripped raw name, False) if unknown."""
    text = str(raw).strip()
    if profile is not None:
        for header_value, standard in profile.filters.items():
            if header_value.strip().lower() == text.lower():
                return standard, True
    if text in STANDARD_FILTERS:
        return text, True
    lowered = text.lower()
    if lowered in _FILTER_ALIASES:
        return _FILTER_ALIASES[lowered], True
    bare = _FILTER_SYSTEMS.sub("", text).strip()
    if bare != text and bare:
        if _SLOAN_PREFIX.match(text):
            bare = bare.lower()
        name, known = standard_filter(bare)
        if known:
            return name, True
    return text, False


def standard_image_type(raw, profile=None):
    """bias/dark/flat/object for a header image-type value, or None if not understood."""
    text = str(raw).strip().lower()
    if profile is not None:
        for header_value, standard in profile.imagetyp.items():
            if header_value.strip().lower() == text:
                return standard
    return IMAGE_TYPES.get(text) or IMAGE_TYPES.get(re.sub(r"[\s_-]+frame$", "", text))


def image_type_from_file_name(name):
    """The image type a file name announces ('flat-...fits' -> 'flat'), or None."""
    tokens = re.split(r"[^a-z]+", Path(name).name.lower())
    kinds = {_FILE_NAME_TYPES[t] for t in tokens if t in _FILE_NAME_TYPES}
    return kinds.pop() if len(kinds) == 1 else None


def parse_date_obs(value, time_value=None, scale="utc", source="header"):
    """Start time as an astropy Time (UTC) from DATE-OBS (and TIME-OBS).

    Accepts ISO dates with or without time, fractional seconds, 'Z' or a
    numeric UTC offset (local times such as '...-0700' are converted to UTC).
    """
    text = str(value).strip()
    if "T" not in text and time_value is not None and re.match(r"^\d{4}-\d\d-\d\d$", text):
        text = f"{text}T{str(time_value).strip()}"
    offset_note = ""
    match = re.match(r"^(.*T[\d:.]+)(Z|[+-]\d\d:?\d\d)$", text)
    try:
        if match:
            stamp = datetime.fromisoformat(match.group(1) + (
                "+00:00" if match.group(2) == "Z" else match.group(2)))
            if stamp.utcoffset().total_seconds() != 0:
                offset_note = f" (local time {match.group(2)} converted to UTC)"
            utc = stamp.astimezone(timezone.utc).replace(tzinfo=None)
            return Time(utc.isoformat(), format="isot", scale="utc"), offset_note
        if not re.match(r"^\d{4}-\d\d-\d\d(T\d\d:\d\d(:\d\d(\.\d*)?)?)?$", text):
            raise ValueError("not ISO 8601")
        return Time(text, format="isot" if "T" in text else "iso", scale=scale).utc, ""
    except ValueError as err:
        raise InputError(
            f"{source}: DATE-OBS={value!r} is not an ISO date (YYYY-MM-DDThh:mm:ss); fix the "
            "header or give --set DATE-OBS=YYYY-MM-DDThh:mm:ss (UTC start)") from err


def angle_deg(value, key, unit_hint, source):
    """RA/DEC in degrees from a number or a sexagesimal string."""
    if isinstance(value, str) and re.search(r"[:hdms\s]", value.strip()):
        unit = u.hourangle if key == "RA" else u.deg
        try:
            return float(Angle(value.strip(), unit=unit).deg)
        except (ValueError, u.UnitsError) as err:
            raise InputError(f"{source}: {key}={value!r} is not an angle; give --set "
                             f"{key}=DEGREES") from err
    number = as_float(value, key, source)
    return number * 15.0 if (key == "RA" and unit_hint == "hourangle") else number


def parse_set_options(items):
    """``["KEY=VALUE", ...]`` -> {KEY: "VALUE"}; values are converted by :func:`standardise`."""
    values = {}
    for item in items or ():
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r} must look like KEY=VALUE (e.g. FILTER=V)")
        values[key.strip().upper()] = text.strip()
    return values
