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
from importlib import resources
from pathlib import Path

from ccdphot.config import read_toml
from ccdphot.errors import ConfigError
from ccdphot.header.obsinfo import read_obsinfo
from ccdphot.header.telescope import (
    PROFILE_TABLES,
    STANDARD_IMAGE_TYPES,
    Profile,
    same_value,
)

log = logging.getLogger(__name__)

_SITE_KEYS = ("longitude_east_deg", "latitude_deg", "altitude_m")
_UNIT_CHOICES = {"RDNOISE": ("e", "adu"), "RA": ("deg", "hourangle")}


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
                key in header and same_value(header[key], value)
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
