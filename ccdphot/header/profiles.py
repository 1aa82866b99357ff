"""Telescope profiles: what a telescope's FITS keywords mean, and its defaults.

A profile is a small TOML document (the shipped ones are in
``default_params/profiles/``) with these tables, all optional:

``[match]``       header values that identify the telescope (TELESCOP, INSTRUME,
                  OBSERVAT); every one given must match.
``[keywords]``    standard keyword -> the FITS keyword that holds it.
``[values]``      standard keyword -> fixed value used when the header lacks it.
``[[modes]]``     camera modes: ``when = {FITSKEY = value}`` selects the mode,
                  the other keys (GAIN, RDNOISE, SATURATE, CDELT1, ...) are its values.
``[units]``       units of values that are not the standard ones
                  (``RDNOISE = "adu"``, ``RA = "hourangle"``).
``[site]``        ``longitude_east_deg``, ``latitude_deg``, ``altitude_m``.
``[imagetyp]``    header image-type value -> bias/dark/flat/object.
``[filters]``     header filter value -> standard filter name.
``[calibration]`` ``overscan`` and ``trimsec`` (FITS sections), ``flat_low_adu``,
                  ``flat_high_adu``.
``[zeropoint]``   ``colour_terms``: the camera's fixed colour term per standard band
                  (``{I = 0.012}``), used instead of fitting one.

CCDPhot ``*_obs.info`` templates are read into the same structure by
:func:`read_obsinfo`; :func:`profile_to_toml` writes it back as TOML.
"""

import logging
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from ccdphot.config import read_toml
from ccdphot.errors import ConfigError, InputError

log = logging.getLogger(__name__)

PROFILE_TABLES = ("match", "keywords", "values", "modes", "units", "site", "imagetyp",
                  "filters", "calibration", "zeropoint")
STANDARD_IMAGE_TYPES = ("bias", "dark", "flat", "object")
_MATCH_KEYS = ("TELESCOP", "INSTRUME", "OBSERVAT")
_SITE_KEYS = ("longitude_east_deg", "latitude_deg", "altitude_m")
_UNIT_CHOICES = {"RDNOISE": ("e", "adu"), "RA": ("deg", "hourangle")}
# obs.info standard keywords that ccdphot names differently.
_OBSINFO_RENAMES = {"OBSTYPE": "IMAGETYP"}
_OBSINFO_FORMATS = {"str": str, "int": int, "float": float}
_FIELD_SEPARATOR = re.compile(r"\s+:\s+|\s+:$|^:\s+")
_FITS_KEY = re.compile(r"^[A-Z0-9_-]{1,8}$")


@dataclass(frozen=True)
class Profile:
    """A telescope profile (see the module docstring for the tables)."""

    name: str
    source: str = ""
    match: dict = field(default_factory=dict)
    keywords: dict = field(default_factory=dict)
    values: dict = field(default_factory=dict)
    modes: tuple = ()
    units: dict = field(default_factory=dict)
    site: dict = field(default_factory=dict)
    imagetyp: dict = field(default_factory=dict)
    filters: dict = field(default_factory=dict)
    calibration: dict = field(default_factory=dict)
    zeropoint: dict = field(default_factory=dict)

    def as_dict(self):
        """The profile as a plain dict in TOML layout (empty tables left out)."""
        data = {"name": self.name}
        if self.source:
            data["source"] = self.source
        for table in PROFILE_TABLES:
            value = getattr(self, table)
            if value:
                data[table] = [dict(m) for m in value] if table == "modes" else dict(value)
        return data

    def defines(self, key):
        """True when the profile says where ``key`` comes from (keyword, value or mode)."""
        return (key in self.keywords or key in self.values
                or any(key in mode for mode in self.modes))

    def mode_for(self, header):
        """(index, mode dict, note) of the camera mode matching ``header``.

        A mode matches when every ``when`` keyword present in the header has
        the mode's value; when several match (selector keywords absent) the
        first is taken and the note says so.
        """
        if not self.modes:
            return None, {}, ""
        candidates = []
        for index, mode in enumerate(self.modes):
            when = mode.get("when", {})
            if all(key not in header or _same_value(header[key], value)
                   for key, value in when.items()):
                candidates.append(index)
        if not candidates:
            selectors = sorted({k for mode in self.modes for k in mode.get("when", {})})
            found = {k: header.get(k) for k in selectors}
            raise InputError(f"profile {self.name}: no camera mode matches the header "
                             f"({found}); add the mode to the profile")
        index = candidates[0]
        note = "" if len(candidates) == 1 else (
            f"mode {index + 1} of {len(self.modes)} assumed (selector keywords absent)")
        return index, self.modes[index], note


def _same_value(header_value, wanted):
    try:
        return abs(float(header_value) - float(wanted)) < 1e-6
    except (TypeError, ValueError):
        return str(header_value).strip().lower() == str(wanted).strip().lower()


def profile_from_dict(data, origin):
    """Build a :class:`Profile` from its TOML layout, checking every table."""
    unknown = sorted(set(data) - set(PROFILE_TABLES) - {"name", "source"})
    if unknown:
        raise ConfigError(f"{origin}: unknown profile table(s) {', '.join(unknown)}; "
                          f"known: name, source, {', '.join(PROFILE_TABLES)}")
    name = data.get("name") or Path(origin).stem
    tables = {}
    for table in PROFILE_TABLES:
        value = data.get(table, [] if table == "modes" else {})
        kind = list if table == "modes" else dict
        if not isinstance(value, kind):
            raise ConfigError(f"{origin}: [{table}] must be a "
                              f"{'list of tables [[modes]]' if kind is list else 'table'}")
        tables[table] = value
    for index, mode in enumerate(tables["modes"]):
        if not isinstance(mode, dict) or not isinstance(mode.get("when", {}), dict):
            raise ConfigError(f"{origin}: mode {index + 1} must be a table with an optional "
                              "'when' table of FITS keyword = value")
    for key, unit in tables["units"].items():
        choices = _UNIT_CHOICES.get(key)
        if choices is None or unit not in choices:
            raise ConfigError(f"{origin}: [units] {key} = {unit!r} not understood; "
                              f"known: {_UNIT_CHOICES}")
    bad_site = sorted(set(tables["site"]) - set(_SITE_KEYS))
    if bad_site:
        raise ConfigError(f"{origin}: unknown [site] key(s) {', '.join(bad_site)}; "
                          f"known: {', '.join(_SITE_KEYS)}")
    terms = tables["zeropoint"].get("colour_terms", {})
    if set(tables["zeropoint"]) - {"colour_terms"} or not isinstance(terms, dict) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in terms.values()):
        raise ConfigError(f"{origin}: [zeropoint] takes only colour_terms = {{band = number}}, "
                          "e.g. colour_terms = {I = 0.012}")
    for value, standard in tables["imagetyp"].items():
        if standard not in STANDARD_IMAGE_TYPES:
            raise ConfigError(f"{origin}: [imagetyp] {value} = {standard!r}: the standard "
                              f"types are {', '.join(STANDARD_IMAGE_TYPES)}")
    return Profile(name=name, source=data.get("source", ""),
                   modes=tuple(tables.pop("modes")), **tables)


def read_profile_toml(path):
    """Read a TOML profile file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"cannot read profile {path}: {err.strerror}") from err
    return profile_from_dict(read_toml(text, f"profile {path}"), str(path))


def profile_to_toml(profile):
    """The profile as TOML text (what ``ccdphot profile convert`` writes)."""
    import tomli_w

    head = (f"# ccdphot telescope profile {profile.name}\n"
            + (f"# {profile.source}\n" if profile.source else ""))
    return head + tomli_w.dumps(profile.as_dict())


# --- CCDPhot *_obs.info templates -------------------------------------------

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
            if standard in _MATCH_KEYS:
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


# --- finding the profile of a frame -------------------------------------------

def shipped_profiles():
    """Profiles shipped in ``default_params/profiles/``, sorted by file name."""
    folder = resources.files("ccdphot.default_params").joinpath("profiles")
    profiles = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            data = read_toml(entry.read_text(encoding="utf-8"), f"profiles/{entry.name}")
            profiles.append(profile_from_dict(data, f"profiles/{entry.name}"))
    return profiles


def load_profile(name_or_path):
    """A profile by shipped name, TOML file or ``*_obs.info`` file."""
    path = Path(str(name_or_path)).expanduser()
    if path.is_file():
        if path.name.endswith(".info"):
            return read_obsinfo(path)
        return read_profile_toml(path)
    for profile in shipped_profiles():
        if profile.name.lower() == str(name_or_path).lower():
            return profile
    known = ", ".join(p.name for p in shipped_profiles())
    raise ConfigError(f"telescope profile {name_or_path!r} is neither a file nor a shipped "
                      f"profile (shipped: {known}); give a .toml or _obs.info file")


def match_profile(header, profiles=None):
    """The profile whose ``[match]`` values all equal the header's, or None.

    When several match, the one with the most match keys wins; a tie is a
    configuration error (two profiles claim the same telescope).
    """
    profiles = shipped_profiles() if profiles is None else profiles
    scored = []
    for profile in profiles:
        if profile.match and all(
                key in header and _same_value(header[key], value)
                for key, value in profile.match.items()):
            scored.append((len(profile.match), profile))
    if not scored:
        return None
    scored.sort(key=lambda item: -item[0])
    if len(scored) > 1 and scored[0][0] == scored[1][0]:
        raise ConfigError(f"profiles {scored[0][1].name} and {scored[1][1].name} both match "
                          "this header equally; choose one with --profile or [header] profile")
    return scored[0][1]


def frame_profile(header, choice):
    """The profile named by ``choice`` (name or file), else the matching shipped one."""
    return load_profile(choice) if choice else match_profile(header)
