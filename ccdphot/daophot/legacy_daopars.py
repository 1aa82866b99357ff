"""Mapping a legacy reduction's PSF and ALLSTAR options onto IRAF ``daopars``.

The analytic PSF model (AN) and its variation (VA) follow the ``.psf`` file when
there is one; DAOPHOT II's PSF/NSTAR/PEAK used daophot.opt's fitting radius,
ALLSTAR its own, so those go to task-specific overrides. An ``allstar.opt``
contradicted by the ``.als`` header is not used (ALLSTAR's defaults are mapped).
Rows are recorded with :class:`ccdphot.daophot.legacy_mapping.Mapper`.
"""

import logging

from ccdphot.daophot import daophot2_options as options
from ccdphot.daophot.legacy_mapping import agree, choose, header_value
from ccdphot.daophot.psets import PSF_FUNCTIONS
from ccdphot.errors import InputError

log = logging.getLogger(__name__)

_AN_TO_IRAF = {number: iraf for iraf, (_, number, _) in PSF_FUNCTIONS.items()}
_KEY_OF = {kind: {name: key for key, name in keys.items()}
           for kind, keys in options.OPTION_KEYS.items()}


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


def map_psf(m, red, tables):
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
    if red.psf is not None and not agree(ps, red.psf["psf_radius_pix"]):
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
    fi_header, fi_file = header_value({k: tables.get(k) for k in ("coo", "ap", "lst", "nei")},
                                       "fitting_radius_pix")
    fi, fi_note = choose(m, "daophot.opt FI", fi, fi_header, fi_file, "FRAD")
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


def map_allstar(m, red, tables):
    opt = dict(red.options["allstar"])
    defaults = options.OPTION_DEFAULTS["allstar"]
    als = tables.get("als")
    source = "allstar.opt"
    frad = als.meta.get("fitting_radius_pix") if als is not None else None
    if opt and frad is not None and "fitting_radius_pix" in opt \
            and not agree(opt["fitting_radius_pix"], frad):
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
    if frad is not None and agree(fi, frad):
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
