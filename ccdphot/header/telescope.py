"""The telescope profile: what a telescope's FITS keywords mean, and its defaults.

The model shared by the profile readers (:mod:`ccdphot.header.profiles` for
TOML, :mod:`ccdphot.header.obsinfo` for CCDPhot ``*_obs.info`` templates);
the tables are described in :mod:`ccdphot.header.profiles`.
"""

from dataclasses import dataclass, field

from ccdphot.errors import InputError

PROFILE_TABLES = ("match", "keywords", "values", "modes", "units", "site", "imagetyp",
                  "filters", "calibration", "zeropoint")


STANDARD_IMAGE_TYPES = ("bias", "dark", "flat", "object")


MATCH_KEYS = ("TELESCOP", "INSTRUME", "OBSERVAT")


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
            if all(key not in header or same_value(header[key], value)
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


def same_value(header_value, wanted):
    try:
        return abs(float(header_value) - float(wanted)) < 1e-6
    except (TypeError, ValueError):
        return str(header_value).strip().lower() == str(wanted).strip().lower()
