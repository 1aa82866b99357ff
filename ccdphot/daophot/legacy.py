"""Reproducing a legacy standalone DAOPHOT II reduction with IRAF DAOPHOT.

:func:`load_legacy` reads a directory holding a DAOPHOT II reduction (option
files ``daophot.opt``, ``photo.opt``, ``allstar.opt`` and any of ``.coo``,
``.ap``, ``.lst``, ``.als``, ``.psf``) and maps its options onto the IRAF
DAOPHOT parameter sets (datapars, findpars, centerpars, fitskypars, photpars,
daopars). Where a star file's header records the value a DAOPHOT program
really used (gain, read noise, low/high bad data, fitting radius, first
aperture), the header wins over the option file, with a warning: the option
file may not be the one that produced the files. Every decision is a row of
``LegacyReduction.mapping``.

:mod:`ccdphot.legacy_comparison` compares a new PSF photometry with the
legacy ALLSTAR list.
"""

import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.table import Table

from ccdphot.daophot import daophot2_files as dao
from ccdphot.daophot import daophot2_options as options
from ccdphot.daophot.psets import PSF_FUNCTIONS
from ccdphot.errors import InputError

log = logging.getLogger(__name__)

# file role -> (suffix, reader); option files are found by name.
_STAR_FILES = {
    "coo": dao.read_daophot_coo, "ap": dao.read_daophot_ap, "lst": dao.read_daophot_lst,
    "nei": dao.read_daophot_nei, "als": dao.read_daophot_als, "nst": dao.read_daophot_nst,
}
_OPTION_FILES = ("daophot", "photo", "allstar")
# Preference order of the star list handed to PHOT/ALLSTAR.
_STAR_LIST_ORDER = ("coo", "ap", "als")
# Figures that must agree between an option file and a star-file header.
_TOLERANCE = 0.005
EDGE_MARGIN_PIX = 2.0

_AN_TO_IRAF = {number: iraf for iraf, (_, number, _) in PSF_FUNCTIONS.items()}
_KEY_OF = {kind: {name: key for key, name in keys.items()}
           for kind, keys in options.OPTION_KEYS.items()}



@dataclass
class LegacyReduction:
    """A legacy DAOPHOT II reduction and its IRAF DAOPHOT equivalent.

    ``iraf_params`` maps pset name -> {parameter: value} for every task (a
    value the legacy files cannot decide, e.g. datamin without a star-file
    header or a sky level, is left out and only noted in ``mapping``);
    ``task_params`` maps an IRAF task (``psf``, ``nstar``, ``peak``) -> {pset:
    {parameter: value}} overrides for that task only (DAOPHOT II's PSF and
    NSTAR used daophot.opt's fitting radius, ALLSTAR its own). ``mapping`` rows
    are dicts with keys legacy_option, legacy_value, iraf_param, iraf_value,
    note; ``iraf_param`` is '' for options with no IRAF equivalent.
    """

    directory: Path
    files: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    iraf_params: dict = field(default_factory=dict)
    task_params: dict = field(default_factory=dict)
    mapping: list = field(default_factory=list)
    star_list: Table = None
    star_list_file: Path = None
    psf_stars: Table = None
    allstar: Table = None
    psf: dict = None
    image_shape: tuple = None
    warnings: list = field(default_factory=list)

    def mapping_table(self):
        """The mapping rows as a Table (values as text, for display and ECSV)."""
        names = ("legacy_option", "legacy_value", "iraf_param", "iraf_value", "note")
        rows = [[_text(row[n]) for n in names] for row in self.mapping]
        return Table(rows=rows or None, names=names, dtype=[str] * len(names))


def _text(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


class _Mapper:
    """Collects parameter values and their mapping rows."""

    def __init__(self, reduction):
        self.red = reduction

    def set(self, legacy, value, param, iraf_value, note="", tasks=()):
        pset, name = param.split(".")
        if iraf_value is not None:  # undecided values stay out: IRAF keeps its own
            for task in tasks:
                self.red.task_params.setdefault(task, {}).setdefault(pset, {})[name] = iraf_value
            if not tasks:
                self.red.iraf_params.setdefault(pset, {})[name] = iraf_value
        shown = f"{param} ({', '.join(tasks)} only)" if tasks else param
        self.red.mapping.append({"legacy_option": legacy, "legacy_value": value,
                                 "iraf_param": shown, "iraf_value": iraf_value, "note": note})

    def none(self, legacy, value, note):
        self.red.mapping.append({"legacy_option": legacy, "legacy_value": value,
                                 "iraf_param": "", "iraf_value": None, "note": note})

    def warn(self, message):
        log.warning(message)
        self.red.warnings.append(message)


def _find_files(directory, image_stem):
    files = {}
    entries = [p for p in directory.iterdir() if p.is_file()]
    for kind in _OPTION_FILES:
        hits = [p for p in entries if p.name.lower() == f"{kind}.opt"]
        if hits:
            files[f"{kind}.opt"] = hits[0]
    for role in (*_STAR_FILES, "psf"):
        hits = sorted(p for p in entries if p.suffix.lower() == f".{role}")
        if image_stem and len(hits) > 1:
            hits = [p for p in hits if p.stem.lower() == image_stem.lower()]
        if len(hits) > 1:
            names = ", ".join(p.name for p in hits)
            raise InputError(f"{directory}: several legacy .{role} files ({names}); keep one "
                             "reduction per directory or give the image stem")
        if hits:
            files[role] = hits[0]
    return files


def _check_frame(table, path, image_shape):
    """The star file must belong to a frame of ``image_shape`` (ny, nx)."""
    if image_shape is None:
        return
    ny, nx = (int(n) for n in image_shape)
    shape = table.meta.get("image_shape")
    if shape and tuple(shape) != (ny, nx):
        raise InputError(f"{path.name} was made on a {shape[1]}x{shape[0]} pixel image but the "
                         f"frame is {nx}x{ny}: this legacy reduction belongs to another image")
    if len(table):
        x = np.asarray(table["X"], float)
        y = np.asarray(table["Y"], float)
        # fitted positions may wander a little past the edge; a star farther
        # out than EDGE_MARGIN_PIX means the file is not of this frame
        low = 0.5 - EDGE_MARGIN_PIX
        outside = ((x < low) | (x > nx + 0.5 + EDGE_MARGIN_PIX)
                   | (y < low) | (y > ny + 0.5 + EDGE_MARGIN_PIX))
        if outside.any():
            i = int(np.flatnonzero(outside)[0])
            raise InputError(f"{path.name}: {int(outside.sum())} stars lie outside the {nx}x{ny} "
                             f"frame (first: ID {table['ID'][i]} at {x[i]:.2f}, {y[i]:.2f}); "
                             "this legacy reduction belongs to another image")


def _check_psf_frame(psf, path, image_shape):
    """DAOPHOT II centres a PSF's variation on the frame: XPSF = (NX - 1)/2."""
    if image_shape is None:
        return
    ny, nx = (int(n) for n in image_shape)
    made = (round(2 * psf["y_center_pix"] + 1), round(2 * psf["x_center_pix"] + 1))
    if made != (ny, nx):
        raise InputError(f"{path.name} was made for a {made[1]}x{made[0]} pixel image (centre "
                         f"{psf['x_center_pix']:g}, {psf['y_center_pix']:g}) but the frame is "
                         f"{nx}x{ny}: this legacy reduction belongs to another image")


def _header_value(tables, key):
    """(value, file name) of a header figure from the first star file that has it."""
    for role in ("als", "ap", "coo", "lst", "nei", "nst"):
        table = tables.get(role)
        if table is not None and key in table.meta:
            return table.meta[key], table.meta["source_file"]
    return None, None


def _agree(a, b):
    return abs(float(a) - float(b)) <= _TOLERANCE * max(1.0, abs(float(b)))


def _choose(m, option_name, option_value, header_value, header_file, what):
    """Header value wins over the option value when both exist and differ."""
    if header_value is None:
        return option_value, ""
    if option_value is None:
        return header_value, f"from the {header_file} header"
    if not _agree(option_value, header_value):
        m.warn(f"{option_name}={option_value:g} but {header_file} records {what} "
               f"{header_value:g}; using {header_value:g}, the value DAOPHOT used")
        return header_value, f"{header_file} header says {header_value:g}; option file ignored"
    return option_value, ""


def load_legacy(directory, image_shape=None, sky_adu=None, sky_sigma_adu=None,
                image_stem=None):
    """Read a legacy DAOPHOT II reduction and map it onto IRAF DAOPHOT parameters.

    ``image_shape`` (ny, nx) of the frame to be reduced: star files made on
    another image size, or with stars outside the frame, raise InputError.
    ``sky_adu`` / ``sky_sigma_adu`` (the frame's sky level and noise) are used
    for datapars.sigma, and for datamin only when no star-file header records
    the LOWBAD DAOPHOT computed from LO. ``image_stem`` picks the files of one
    image when the directory holds several reductions.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(f"legacy directory {directory} does not exist; give --legacy the "
                         "directory holding daophot.opt and the .coo/.ap/.als files")
    red = LegacyReduction(directory=directory, files=_find_files(directory, image_stem))
    if not red.files:
        raise InputError(f"{directory}: no DAOPHOT II files (daophot.opt, photo.opt, allstar.opt,"
                         " .coo, .ap, .lst, .als, .psf) found")
    m = _Mapper(red)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", dao.DaophotFileWarning)
        tables = _read_files(red, image_shape)
    for warning in caught:  # the readers' notes go into the log and the reduction
        if issubclass(warning.category, dao.DaophotFileWarning):
            m.warn(str(warning.message))
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename,
                                   warning.lineno)
    shapes = {t.meta["image_shape"] for t in tables.values() if "image_shape" in t.meta}
    if len(shapes) > 1:
        raise InputError(f"{directory}: the legacy star files were made on images of different "
                         f"sizes {sorted(shapes)}; keep one reduction per directory")
    red.image_shape = shapes.pop() if shapes else None
    for role in _STAR_LIST_ORDER:
        if role in tables:
            red.star_list, red.star_list_file = tables[role], red.files[role]
            break
    red.psf_stars = tables.get("lst")
    red.allstar = tables.get("als")
    _map_datapars(m, red, tables, sky_adu, sky_sigma_adu)
    _map_findpars(m, red)
    _map_photometry(m, red, tables)
    _map_psf(m, red, tables)
    _map_allstar(m, red, tables)
    log.info("legacy reduction in %s: %d options mapped, %d without IRAF equivalent, "
             "star list %s", directory, sum(1 for r in red.mapping if r["iraf_param"]),
             sum(1 for r in red.mapping if not r["iraf_param"]),
             red.star_list_file.name if red.star_list_file else "none")
    return red


def _read_files(red, image_shape):
    """Read the option files into ``red.options``, the PSF file into ``red.psf``;
    return the star-file tables by role, each checked against the frame."""
    for kind in _OPTION_FILES:
        path = red.files.get(f"{kind}.opt")
        red.options[kind] = options.read_daophot_options(path, kind) if path else {}
    tables = {}
    for role, reader in _STAR_FILES.items():
        if role in red.files:
            tables[role] = reader(red.files[role])
            _check_frame(tables[role], red.files[role], image_shape)
    if "psf" in red.files:
        red.psf = dao.read_daophot_psf(red.files["psf"])
        _check_psf_frame(red.psf, red.files["psf"], image_shape)
    return tables


def low_good_datum_adu(lo_sigma, sky_adu, sky_sigma_adu):
    """DAOPHOT II's low bad-data limit in ADU: the sky minus LO sky sigmas."""
    return float(sky_adu) - float(lo_sigma) * float(sky_sigma_adu)


def _map_datapars(m, red, tables, sky_adu, sky_sigma_adu):
    opt = red.options["daophot"]
    defaults = options.OPTION_DEFAULTS["daophot"]
    fw = opt.get("fwhm_pix", defaults["fwhm_pix"])
    m.set("daophot.opt FW", fw, "datapars.fwhmpsf", fw,
          "" if "fwhm_pix" in opt else "DAOPHOT II default")
    m.set("(scale)", None, "datapars.scale", 1.0, "DAOPHOT II works in pixels")

    gain, gain_note = _choose(m, "daophot.opt GA", opt.get("gain_e_per_adu"),
                              *_header_value(tables, "gain_e_per_adu"), "PH/ADU")
    if gain is None or gain <= 0:
        m.none("daophot.opt GA", gain, "no gain in daophot.opt or a star-file header: "
               "datapars.epadu is taken from the frame header")
    else:
        m.set("daophot.opt GA", opt.get("gain_e_per_adu"), "datapars.epadu", gain,
              gain_note or "e-/ADU in both")
    noise, noise_note = _choose(m, "daophot.opt RE", opt.get("read_noise_adu"),
                                *_header_value(tables, "read_noise_adu"), "RNOISE")
    if noise is not None and gain:
        m.set("daophot.opt RE", opt.get("read_noise_adu"), "datapars.readnoise",
              round(noise * gain, 4),
              f"RE is in ADU, IRAF wants electrons: {noise:g} ADU x {gain:g} e-/ADU"
              + (f"; {noise_note}" if noise_note else ""))
    else:
        m.none("daophot.opt RE", noise, "read noise needs the gain to become electrons; "
               "datapars.readnoise is taken from the frame header")

    lo = opt.get("low_good_datum_sigma", defaults["low_good_datum_sigma"])
    lowbad, lowbad_file = _header_value(tables, "low_bad_adu")
    if lowbad is not None:
        m.set("daophot.opt LO", lo, "datapars.datamin", lowbad,
              f"LO is in sky sigmas below the sky; {lowbad_file} records LOWBAD = {lowbad:g} "
              "ADU, the limit DAOPHOT computed from it")
    elif sky_adu is not None and sky_sigma_adu is not None:
        value = round(low_good_datum_adu(lo, sky_adu, sky_sigma_adu), 3)
        m.set("daophot.opt LO", lo, "datapars.datamin", value,
              f"sky {sky_adu:g} - LO x sky sigma {sky_sigma_adu:g} ADU (no star-file header)")
    else:
        m.set("daophot.opt LO", lo, "datapars.datamin", None,
              "needs the frame sky: datamin = sky - LO x sky sigma (ADU); left INDEF")
    if sky_sigma_adu is not None:
        m.set("(sky sigma of the frame)", None, "datapars.sigma", float(sky_sigma_adu),
              "DAOPHOT II measures it itself; IRAF needs it for TH and centring")

    hi_opt = opt.get("high_good_datum_adu")
    hi, hi_note = _choose(m, "daophot.opt HI", hi_opt, *_header_value(tables, "high_bad_adu"),
                          "HIGHBAD")
    if hi is None:
        hi, hi_note = defaults["high_good_datum_adu"], "DAOPHOT II default"
    m.set("daophot.opt HI", hi_opt, "datapars.datamax", hi, hi_note or "ADU in both")
    m.set("(no exposure normalisation)", None, "datapars.exposure", "",
          "DAOPHOT II magnitudes are not divided by the exposure time: no exposure keyword")
    m.set("(no exposure normalisation)", None, "datapars.itime", 1.0, "")


def _map_findpars(m, red):
    opt = red.options["daophot"]
    defaults = options.OPTION_DEFAULTS["daophot"]
    pairs = (("TH", "threshold_sigma", "threshold", "in sky sigmas in both (needs datapars.sigma)"),
             ("LS", "low_sharpness", "sharplo", ""), ("HS", "high_sharpness", "sharphi", ""),
             ("LR", "low_roundness", "roundlo", ""), ("HR", "high_roundness", "roundhi", ""))
    for key, name, param, note in pairs:
        value = opt.get(name, defaults[name])
        if name not in opt:
            note = "DAOPHOT II default" + (f"; {note}" if note else "")
        m.set(f"daophot.opt {key}", value, f"findpars.{param}", value, note)


def _map_photometry(m, red, tables):
    opt = red.options["photo"]
    apertures = [opt[f"aperture{i}_pix"] for i in range(1, 13) if f"aperture{i}_pix" in opt]
    ap1, ap_file = _header_value({"ap": tables.get("ap")}, "aperture1_pix")
    note = ""
    if ap1 is not None and apertures and not _agree(apertures[0], ap1):
        m.warn(f"photo.opt A1={apertures[0]:g} but {ap_file} records AP1={ap1:g}; using {ap1:g}")
        apertures[0], note = ap1, f"{ap_file} header AP1 wins over photo.opt A1"
    elif ap1 is not None and not apertures:
        apertures, note = [ap1], f"from the {ap_file} header (no photo.opt)"
    ap_table = tables.get("ap")
    if ap_table is not None and apertures and ap_table.meta["apertures"] != len(apertures):
        m.warn(f"photo.opt lists {len(apertures)} aperture(s) but {ap_table.meta['source_file']} "
               f"holds {ap_table.meta['apertures']}: that .ap was not made with this photo.opt; "
               "the photo.opt radii are used")
    if apertures:
        m.set("photo.opt A1..AC", ",".join(f"{a:g}" for a in apertures), "photpars.apertures",
              ",".join(f"{a:g}" for a in apertures), note or "radii in pixels in both")
    m.none("(DAOPHOT zero point)", 25.0,
           "DAOPHOT II magnitudes are 25 - 2.5 log10(ADU); photpars.zmag is [photometry] "
           "zero_point_mag, the scale of every method")
    m.set("(PHOT does not recentre)", None, "centerpars.calgorithm", "none",
          "DAOPHOT II PHOT measures at the FIND positions")
    inner, outer = opt.get("inner_sky_radius_pix"), opt.get("outer_sky_radius_pix")
    if inner is not None:
        m.set("photo.opt IS", inner, "fitskypars.annulus", inner, "inner sky radius, pixels")
    if inner is not None and outer is not None:
        if outer <= inner:
            raise InputError(f"{red.files['photo.opt'].name}: OS={outer:g} is not larger than "
                             f"IS={inner:g}; the sky annulus would be empty")
        m.set("photo.opt OS", outer, "fitskypars.dannulus", outer - inner,
              "IRAF takes the annulus width: OS - IS")
    m.set("(PHOT sky estimator)", None, "fitskypars.salgorithm", "mode",
          "DAOPHOT II PHOT takes a mode of the sky annulus")


def _psf_function(m, red):
    opt = red.options["daophot"]
    an = opt.get("analytic_model_psf")
    if red.psf is not None:
        label, iraf = red.psf["function"], red.psf["iraf_function"]
        note = f"{red.files['psf'].name} was fitted with {label}"
        if an is not None and an > 0 and _AN_TO_IRAF.get(int(an)) != iraf:
            m.warn(f"daophot.opt AN={an:g} but {red.files['psf'].name} holds a {label} PSF; "
                   f"using {iraf}")
        elif an is not None and an < 0:
            note += f" (AN={an:g} let PSF choose among the first {abs(int(an))} functions)"
        return an, iraf, note
    if an is None:
        return None, "gauss", "DAOPHOT II default AN=1 (Gaussian)"
    n = int(round(an))
    if n not in _AN_TO_IRAF and -n not in _AN_TO_IRAF:
        raise InputError(f"{red.files['daophot.opt'].name}: AN={an:g} is not an analytic PSF "
                         "model (DAOPHOT II accepts 1..6, or -1..-6 to try several)")
    if n > 0:
        return an, _AN_TO_IRAF[n], ("AN numbers: 1 gauss, 2 moffat15, 3 moffat25, 4 lorentz, "
                                    "5 penny1, 6 penny2")
    if n == -6:
        return an, "auto", "negative AN: PSF tries functions 1..6 and keeps the best"
    names = ",".join(_AN_TO_IRAF[i] for i in range(1, -n + 1))
    return an, names, f"negative AN: PSF tries functions 1..{-n} and keeps the best"


def _map_psf(m, red, tables):
    opt = red.options["daophot"]
    defaults = options.OPTION_DEFAULTS["daophot"]
    an, function, note = _psf_function(m, red)
    m.set("daophot.opt AN", an, "daopars.function", function, note)

    va = opt.get("variable_psf", defaults["variable_psf"])
    va_note = "" if "variable_psf" in opt else "DAOPHOT II default"
    if red.psf is not None and red.psf["varorder"] is not None and red.psf["varorder"] != int(va):
        m.warn(f"daophot.opt VA={va:g} but {red.files['psf'].name} has "
               f"{red.psf['n_lookup_tables']} look-up tables (VA={red.psf['varorder']}); "
               f"using {red.psf['varorder']}")
        va, va_note = red.psf["varorder"], f"from {red.files['psf'].name}"
    m.set("daophot.opt VA", opt.get("variable_psf"), "daopars.varorder", int(va), va_note)

    ps = opt.get("psf_radius_pix", defaults["psf_radius_pix"])
    ps_note = "" if "psf_radius_pix" in opt else "DAOPHOT II default"
    if red.psf is not None and not _agree(ps, red.psf["psf_radius_pix"]):
        m.warn(f"daophot.opt PS={ps:g} but {red.files['psf'].name} has a PSF radius of "
               f"{red.psf['psf_radius_pix']:g}; using the latter")
        ps, ps_note = red.psf["psf_radius_pix"], f"from {red.files['psf'].name} table size"
    m.set("daophot.opt PS", opt.get("psf_radius_pix"), "daopars.psfrad", ps, ps_note)

    ex = opt.get("extra_psf_cleaning_passes", defaults["extra_psf_cleaning_passes"])
    m.set("daophot.opt EX", opt.get("extra_psf_cleaning_passes"), "daopars.nclean", int(ex),
          "extra PSF cleaning passes = IRAF psf nclean")
    us = opt.get("use_saturated_psf_stars", defaults["use_saturated_psf_stars"])
    m.set("daophot.opt US", opt.get("use_saturated_psf_stars"), "daopars.saturated", us >= 0.5,
          "" if "use_saturated_psf_stars" in opt else "DAOPHOT II default")

    fi = opt.get("fitting_radius_pix")
    fi_header, fi_file = _header_value({k: tables.get(k) for k in ("coo", "ap", "lst", "nei")},
                                       "fitting_radius_pix")
    fi, fi_note = _choose(m, "daophot.opt FI", fi, fi_header, fi_file, "FRAD")
    if fi is None:
        fi, fi_note = defaults["fitting_radius_pix"], "DAOPHOT II default"
    daophot_tasks = ("psf", "nstar", "peak")
    m.set("daophot.opt FI", opt.get("fitting_radius_pix"), "daopars.fitrad", fi,
          fi_note or "DAOPHOT II's PSF/NSTAR/PEAK fitting radius", tasks=daophot_tasks)
    for key, name, param in (("PE", "percent_error", "flaterr"),
                             ("PR", "profile_error", "proferr")):
        m.set(f"daophot.opt {key}", opt.get(name), f"daopars.{param}",
              opt.get(name, defaults[name]),
              "per cent in both" + ("" if name in opt else "; DAOPHOT II default"),
              tasks=daophot_tasks)

    for key, name, why in (
            ("WA", "watch_progress", "terminal output only"),
            ("FR", "fractional_pixel_expansion", "never implemented in DAOPHOT II (always 0); "
             "IRAF has no such parameter"),
            ("MS", "max_stars_in_file", "a memory limit of DAOPHOT II; IRAF allocates as needed")):
        if name in opt:
            m.none(f"daophot.opt {key}", opt[name], why)
    for name, value in opt.items():
        if name not in defaults:
            m.none(f"daophot.opt {name}", value, "not a DAOPHOT II option; ignored")


def _map_allstar(m, red, tables):
    opt = dict(red.options["allstar"])
    defaults = options.OPTION_DEFAULTS["allstar"]
    als = tables.get("als")
    source = "allstar.opt"
    frad = als.meta.get("fitting_radius_pix") if als is not None else None
    if opt and frad is not None and "fitting_radius_pix" in opt \
            and not _agree(opt["fitting_radius_pix"], frad):
        m.warn(f"allstar.opt FI={opt['fitting_radius_pix']:g} but {red.files['als'].name} records "
               f"FRAD={frad:g}: that .als was not made with this allstar.opt; mapping ALLSTAR's "
               "built-in defaults instead")
        for name, value in opt.items():
            m.none(f"allstar.opt {_KEY_OF['allstar'].get(name, name)}", value,
                   f"not used: {red.files['als'].name} was made without this allstar.opt")
        opt, source = {"fitting_radius_pix": frad}, "ALLSTAR default"
    elif frad is not None and "fitting_radius_pix" not in opt:
        opt["fitting_radius_pix"] = frad

    given = red.options["allstar"] if source == "allstar.opt" else {}

    def value(name):
        """(value used, value in allstar.opt or None, note)."""
        if name in given:
            return given[name], given[name], ""
        if name in opt:
            return opt[name], None, f"{red.files['als'].name} header"
        return defaults[name], None, "ALLSTAR default"

    fi, fi_given, note = value("fitting_radius_pix")
    if frad is not None and _agree(fi, frad):
        note = f"{red.files['als'].name} header FRAD = {frad:g}"
    m.set("allstar.opt FI", fi_given, "daopars.fitrad", fi, note)
    recenter, given_value, note = value("redetermine_centroids")
    m.set("allstar.opt RE", given_value, "daopars.recenter", recenter >= 0.5, note)
    ce, given_value, note = value("clipping_exponent")
    m.set("allstar.opt CE", given_value, "daopars.clipexp", int(ce), note)
    cr, given_value, note = value("clipping_range_sigma")
    m.set("allstar.opt CR", given_value, "daopars.cliprange", cr, note)
    ma, given_value, note = value("max_group_size")
    m.set("allstar.opt MA", given_value, "daopars.maxgroup", int(min(ma, 100)),
          "; ".join(t for t in (note, "IRAF allows at most 100" if ma > 100 else "") if t))
    for key, name, param in (("PE", "percent_error", "flaterr"),
                             ("PR", "profile_error", "proferr")):
        val, given_value, note = value(name)
        m.set(f"allstar.opt {key}", given_value, f"daopars.{param}", val, note)
    inner, inner_given, _ = value("inner_sky_radius_pix")
    outer, outer_given, note = value("outer_sky_radius_pix")
    fitsky = outer > 0.5
    m.set("allstar.opt OS", outer_given, "daopars.fitsky", fitsky,
          "ALLSTAR re-measures the sky only when OS > 0.5" + (f" ({note})" if note else ""))
    if fitsky:
        if outer <= inner:
            raise InputError(f"{red.files['allstar.opt'].name}: OS={outer:g} is not larger than "
                             f"IS={inner:g}; the sky annulus would be empty")
        m.set("allstar.opt IS", inner_given, "daopars.sannulus", inner, "")
        m.set("allstar.opt OS", outer_given, "daopars.wsannulus", outer - inner, "width: OS - IS")
    m.set("(ALLSTAR group sky)", None, "daopars.groupsky", True,
          "ALLSTAR fits each group against the mean sky of its stars")
    if "watch_progress" in opt:
        m.none("allstar.opt WA", opt["watch_progress"], "terminal output only")
    if "max_stars_in_file" in opt:
        m.none("allstar.opt MS", opt["max_stars_in_file"], "a memory limit of ALLSTAR")
    for name, val in opt.items():
        if name not in defaults:
            m.none(f"allstar.opt {name}", val, "not an ALLSTAR option; ignored")
