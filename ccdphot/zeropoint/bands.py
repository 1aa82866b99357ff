"""The frame's standard band, its photometric system, and the colour its fit uses.

A FILTER header value is mapped to one standard band (``[zeropoint.filter_bands]``
first, then :data:`FILTER_BANDS`); unfiltered or clear frames are calibrated on
Gaia G, the closest standard band to a bare CCD. The colour of the colour term
is chosen per band from :data:`DEFAULT_COLOURS` (the first colour whose two
bands the catalogue has) unless ``[zeropoint.colours]`` names one.
"""

import logging

from ccdphot.errors import ConfigError

log = logging.getLogger(__name__)

SYSTEMS = {"U": "Johnson", "B": "Johnson", "V": "Johnson", "R": "Cousins", "I": "Cousins",
           "u": "SDSS", "g": "SDSS", "r": "SDSS", "i": "SDSS", "z": "SDSS",
           "G": "Gaia", "BP": "Gaia", "RP": "Gaia", "J": "2MASS", "H": "2MASS", "K": "2MASS"}

# FILTER header value -> standard band. Matched exactly, then case-insensitively for
# names longer than one character (a one-letter "I" and "i" are different bands).
FILTER_BANDS = {
    "U": "U", "B": "B", "V": "V", "R": "R", "I": "I",
    "Rc": "R", "Ic": "I", "R_C": "R", "I_C": "I", "Johnson_U": "U", "Johnson_B": "B",
    "Johnson_V": "V", "Cousins_R": "R", "Cousins_I": "I",
    "u": "u", "g": "g", "r": "r", "i": "i", "z": "z",
    "u'": "u", "g'": "g", "r'": "r", "i'": "i", "z'": "z",
    "sdss_u": "u", "sdss_g": "g", "sdss_r": "r", "sdss_i": "i", "sdss_z": "z",
    "G": "G", "BP": "BP", "RP": "RP", "J": "J", "H": "H", "K": "K", "Ks": "K",
    "clear": "G", "c": "G", "none": "G", "open": "G", "l": "G", "lum": "G",
    "luminance": "G",
}

# Standard band -> colours for its colour term, in order of preference.
DEFAULT_COLOURS = {
    "U": (("U", "B"), ("u", "g")), "B": (("B", "V"), ("g", "r"), ("BP", "RP")),
    "V": (("B", "V"), ("g", "r"), ("BP", "RP")), "R": (("V", "R"), ("r", "i"), ("BP", "RP")),
    "I": (("V", "I"), ("r", "i"), ("BP", "RP")), "u": (("u", "g"),),
    "g": (("g", "r"), ("BP", "RP")), "r": (("r", "i"), ("g", "r"), ("BP", "RP")),
    "i": (("r", "i"), ("i", "z"), ("BP", "RP")), "z": (("i", "z"),),
    "G": (("BP", "RP"),), "BP": (("BP", "RP"),), "RP": (("BP", "RP"),),
    "J": (("J", "K"),), "H": (("J", "H"),), "K": (("J", "K"),),
}


def standard_band(filter_value, overrides):
    """The standard band of a FILTER header value (``overrides``: [zeropoint.filter_bands])."""
    if filter_value is None:
        raise ConfigError("FILTER is unknown: add it to the telescope profile "
                          "([values] FILTER = ...) or give --set FILTER=VALUE "
                          "(\"clear\" for an unfiltered camera)")
    name = str(filter_value).strip()
    for table in (overrides, FILTER_BANDS):
        if name in table:
            value = table[name]
            band = value if isinstance(value, str) else value[0]
            return _known(band, name)
    if len(name) > 1:
        folded = {key.casefold(): key for key in FILTER_BANDS if len(key) > 1}
        if name.casefold() in folded:
            return FILTER_BANDS[folded[name.casefold()]]
    raise ConfigError(f"FILTER={name!r} is not a known passband; map it to a standard band "
                      f"in [zeropoint.filter_bands], e.g. \"{name}\" = \"V\"")


def _known(band, filter_name):
    if band not in SYSTEMS:
        raise ConfigError(f"[zeropoint.filter_bands] maps {filter_name!r} to {band!r}, which "
                          f"is not a standard band ({', '.join(SYSTEMS)})")
    return band


def parse_colour(text):
    """``"B-V"`` -> ("B", "V"); "" -> None (automatic); "none" -> () (no colour term)."""
    text = (text or "").strip()
    if not text:
        return None
    if text.casefold() == "none":
        return ()
    parts = [p.strip() for p in text.split("-")]
    if len(parts) != 2 or not all(p in SYSTEMS for p in parts):
        raise ConfigError(f"colour {text!r}: give two standard bands like \"B-V\" or "
                          f"\"r-i\" ({', '.join(SYSTEMS)}), or \"none\"")
    return tuple(parts)


def choose_colour(band, available, configured=None):
    """The colour (two bands) for ``band``'s colour term, or None when none is available.

    ``configured`` comes from :func:`parse_colour`: None chooses automatically among
    :data:`DEFAULT_COLOURS` the first whose bands are in ``available``.
    """
    if configured == ():
        return None
    if configured is not None:
        return configured if all(b in available for b in configured) else None
    return next((pair for pair in DEFAULT_COLOURS.get(band, ())
                 if all(b in available for b in pair)), None)
