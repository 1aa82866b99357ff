"""DAOPHOT II option files (``daophot.opt``, ``photo.opt``, ``allstar.opt``) as observers have them.

Read as DAOPHOT's Fortran reads them (see :func:`read_daophot_options`): a key
by its first two letters, whatever the file's line ends (LF, CRLF) or trailing
blanks; what DAOPHOT would silently take or skip (unknown keys, text after a
value, a key given twice, lines after a blank one) is a
:class:`~ccdphot.daophot.daophot2_files.DaophotFileWarning`; only a line that
cannot be read raises, naming the file and line.
"""

import logging
import warnings
from pathlib import Path

from ccdphot.daophot.daophot2_files import FORTRAN_NUMBER, DaophotFileWarning, fortran_numbers
from ccdphot.errors import InputError

log = logging.getLogger(__name__)

# Option files: two-letter key -> canonical name, per file kind, with the
# defaults DAOPHOT II / ALLSTAR use when a key is absent.
OPTION_KEYS = {
    "daophot": {
        "RE": "read_noise_adu", "GA": "gain_e_per_adu", "LO": "low_good_datum_sigma",
        "HI": "high_good_datum_adu", "FW": "fwhm_pix", "TH": "threshold_sigma",
        "LS": "low_sharpness", "HS": "high_sharpness", "LR": "low_roundness",
        "HR": "high_roundness", "WA": "watch_progress", "FI": "fitting_radius_pix",
        "PS": "psf_radius_pix", "VA": "variable_psf", "FR": "fractional_pixel_expansion",
        "AN": "analytic_model_psf", "EX": "extra_psf_cleaning_passes",
        "US": "use_saturated_psf_stars", "PE": "percent_error", "PR": "profile_error",
        "MS": "max_stars_in_file",
    },
    "photo": {
        **{f"A{c}": f"aperture{i}_pix" for i, c in enumerate("123456789ABC", start=1)},
        "IS": "inner_sky_radius_pix", "OS": "outer_sky_radius_pix",
    },
    "allstar": {
        "FI": "fitting_radius_pix", "CE": "clipping_exponent",
        "RE": "redetermine_centroids", "CR": "clipping_range_sigma",
        "WA": "watch_progress", "MA": "max_group_size", "PE": "percent_error",
        "PR": "profile_error", "IS": "inner_sky_radius_pix", "OS": "outer_sky_radius_pix",
        "MS": "max_stars_in_file",
    },
}
OPTION_DEFAULTS = {
    "daophot": {
        "read_noise_adu": 0.0, "gain_e_per_adu": 0.0, "low_good_datum_sigma": 7.0,
        "high_good_datum_adu": 32766.5, "fwhm_pix": 2.5, "threshold_sigma": 4.0,
        "low_sharpness": 0.2, "high_sharpness": 1.0, "low_roundness": -1.0,
        "high_roundness": 1.0, "watch_progress": 1.0, "fitting_radius_pix": 2.0,
        "psf_radius_pix": 11.0, "variable_psf": 0.0, "fractional_pixel_expansion": 0.0,
        "analytic_model_psf": 1.0, "extra_psf_cleaning_passes": 0.0,
        "use_saturated_psf_stars": 0.0, "percent_error": 0.75, "profile_error": 5.0,
        "max_stars_in_file": 5000.0,
    },
    "photo": {},
    "allstar": {
        "fitting_radius_pix": 2.5, "clipping_exponent": 6.0, "redetermine_centroids": 1.0,
        "clipping_range_sigma": 2.5, "watch_progress": 1.0, "max_group_size": 50.0,
        "percent_error": 0.75, "profile_error": 5.0, "inner_sky_radius_pix": 0.0,
        "outer_sky_radius_pix": 0.0, "max_stars_in_file": 5000.0,
    },
}


def option_kind(path):
    """'daophot', 'photo' or 'allstar' from an option file's name, else None."""
    name = Path(path).name.lower()
    if name.startswith("allstar") or name.endswith(".als.opt"):
        return "allstar"
    if name.startswith("photo"):
        return "photo"
    if name.startswith("daophot"):
        return "daophot"
    return None


def read_daophot_options(path, kind=None):
    """Read a DAOPHOT II option file into {canonical name: value}.

    Keys are recognised as DAOPHOT does: by their first two characters, case
    insensitive (``fi = 7.0``, ``FIT=7``, ``A1=8``). ``kind`` ('daophot',
    'photo' or 'allstar'; guessed from the file name when omitted) decides
    what a key means: RE is the read noise in daophot.opt but "redetermine
    centroids" in allstar.opt. Read as DAOPHOT's Fortran reads them, with a
    :class:`DaophotFileWarning` for what it would silently take or skip: an
    unknown key is kept under its two letters, text after the number is
    ignored (``FW = 3.5 pixels``), a key given twice keeps its last value, and
    reading stops at the first line of three characters or fewer (a blank
    line). A line without '=' or without a number after it raises InputError
    naming the file and line.
    """
    path = Path(path)
    kind = kind or option_kind(path)
    if kind not in OPTION_KEYS:
        raise InputError(f"{path.name}: cannot tell which DAOPHOT option file this is; name it "
                         "daophot.opt, photo.opt or allstar.opt (or pass kind=)")
    keys = OPTION_KEYS[kind]
    try:
        lines = path.read_text(errors="replace").lstrip("\ufeff").splitlines()
    except OSError as err:
        raise InputError(f"{path}: cannot read option file ({err.strerror or err})") from err

    def warn(number, message):
        warnings.warn(f"{path.name} line {number}: {message}", DaophotFileWarning, stacklevel=3)

    options, line_of = {}, {}
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if len(line) <= 3:
            ignored = [n for n, rest in enumerate(lines[number:], start=number + 1)
                       if len(rest.strip()) > 3]
            if ignored:
                warn(number, f"DAOPHOT stops reading at this short line; lines "
                             f"{ignored[0]}-{ignored[-1]} are ignored")
            break
        if "=" not in line:
            raise InputError(f"{path.name} line {number}: {line!r} has no '='; DAOPHOT option "
                             "lines read KEY = value")
        key, _, text = line.partition("=")
        key = key.strip()[:2].upper()
        value = FORTRAN_NUMBER.match(text.strip())
        if value is None:
            raise InputError(f"{path.name} line {number}: value {text.strip()!r} of {key} is "
                             "not a number")
        rest = text.strip()[value.end():].strip()
        if rest:
            warn(number, f"{rest!r} after the value of {key} is ignored, as DAOPHOT ignores it")
        name = keys.get(key)
        if name is None:
            warn(number, f"{key} is not a {kind}.opt option; kept as {key!r}")
            name = key
        if name in options:
            warn(number, f"{key} was already given on line {line_of[name]}; the value of this "
                         "line is used, as DAOPHOT does")
        options[name] = fortran_numbers(value.group(0))[0]
        line_of[name] = number
    return options
