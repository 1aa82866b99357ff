"""Mapping a legacy DAOPHOT II reduction's options onto IRAF DAOPHOT parameter sets.

:class:`Mapper` records every decision as a row (legacy option and value, IRAF
parameter and value, note). Where a star file's header records the value a
DAOPHOT program really used, it wins over the option file, with a warning
(:func:`choose`). This module maps datapars, findpars and the aperture
photometry (photpars, centerpars, fitskypars); :mod:`ccdphot.daophot.legacy_daopars`
maps the PSF and ALLSTAR options (daopars).
"""

import logging

from ccdphot.daophot import daophot2_options as options
from ccdphot.errors import InputError

log = logging.getLogger(__name__)

# Figures that must agree between an option file and a star-file header.
_TOLERANCE = 0.005


class Mapper:
    """Collects parameter values and their mapping rows."""

    def __init__(self, reduction):
        self.red = reduction

    def set(self, legacy, value, param, iraf_value, note="", tasks=()):
        """Map ``legacy`` (its ``value``) to ``param`` = ``iraf_value`` (pset.name),
        for every task or only ``tasks``; None leaves IRAF's own value."""
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
        """Record an option with no IRAF equivalent, and why."""
        self.red.mapping.append({"legacy_option": legacy, "legacy_value": value,
                                 "iraf_param": "", "iraf_value": None, "note": note})

    def warn(self, message):
        """Log ``message`` and keep it in the reduction's warnings."""
        log.warning(message)
        self.red.warnings.append(message)


def header_value(tables, key):
    """(value, file name) of a header figure from the first star file that has it."""
    for role in ("als", "ap", "coo", "lst", "nei", "nst"):
        table = tables.get(role)
        if table is not None and key in table.meta:
            return table.meta[key], table.meta["source_file"]
    return None, None


def agree(a, b):
    return abs(float(a) - float(b)) <= _TOLERANCE * max(1.0, abs(float(b)))


def choose(m, option_name, option_value, header_value, header_file, what):
    """Header value wins over the option value when both exist and differ."""
    if header_value is None:
        return option_value, ""
    if option_value is None:
        return header_value, f"from the {header_file} header"
    if not agree(option_value, header_value):
        m.warn(f"{option_name}={option_value:g} but {header_file} records {what} "
               f"{header_value:g}; using {header_value:g}, the value DAOPHOT used")
        return header_value, f"{header_file} header says {header_value:g}; option file ignored"
    return option_value, ""


def low_good_datum_adu(lo_sigma, sky_adu, sky_sigma_adu):
    """DAOPHOT II's low bad-data limit in ADU: the sky minus LO sky sigmas."""
    return float(sky_adu) - float(lo_sigma) * float(sky_sigma_adu)


def map_datapars(m, red, tables, sky_adu, sky_sigma_adu):
    opt = red.options["daophot"]
    defaults = options.OPTION_DEFAULTS["daophot"]
    fw = opt.get("fwhm_pix", defaults["fwhm_pix"])
    m.set("daophot.opt FW", fw, "datapars.fwhmpsf", fw,
          "" if "fwhm_pix" in opt else "DAOPHOT II default")
    m.set("(scale)", None, "datapars.scale", 1.0, "DAOPHOT II works in pixels")

    gain, gain_note = choose(m, "daophot.opt GA", opt.get("gain_e_per_adu"),
                              *header_value(tables, "gain_e_per_adu"), "PH/ADU")
    if gain is None or gain <= 0:
        m.none("daophot.opt GA", gain, "no gain in daophot.opt or a star-file header: "
               "datapars.epadu is taken from the frame header")
    else:
        m.set("daophot.opt GA", opt.get("gain_e_per_adu"), "datapars.epadu", gain,
              gain_note or "e-/ADU in both")
    noise, noise_note = choose(m, "daophot.opt RE", opt.get("read_noise_adu"),
                                *header_value(tables, "read_noise_adu"), "RNOISE")
    if noise is not None and gain:
        m.set("daophot.opt RE", opt.get("read_noise_adu"), "datapars.readnoise",
              round(noise * gain, 4),
              f"RE is in ADU, IRAF wants electrons: {noise:g} ADU x {gain:g} e-/ADU"
              + (f"; {noise_note}" if noise_note else ""))
    else:
        m.none("daophot.opt RE", noise, "read noise needs the gain to become electrons; "
               "datapars.readnoise is taken from the frame header")

    lo = opt.get("low_good_datum_sigma", defaults["low_good_datum_sigma"])
    lowbad, lowbad_file = header_value(tables, "low_bad_adu")
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
    hi, hi_note = choose(m, "daophot.opt HI", hi_opt, *header_value(tables, "high_bad_adu"),
                          "HIGHBAD")
    if hi is None:
        hi, hi_note = defaults["high_good_datum_adu"], "DAOPHOT II default"
    m.set("daophot.opt HI", hi_opt, "datapars.datamax", hi, hi_note or "ADU in both")
    m.set("(no exposure normalisation)", None, "datapars.exposure", "",
          "DAOPHOT II magnitudes are not divided by the exposure time: no exposure keyword")
    m.set("(no exposure normalisation)", None, "datapars.itime", 1.0, "")


def map_findpars(m, red):
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


def map_photometry(m, red, tables):
    opt = red.options["photo"]
    apertures = [opt[f"aperture{i}_pix"] for i in range(1, 13) if f"aperture{i}_pix" in opt]
    ap1, ap_file = header_value({"ap": tables.get("ap")}, "aperture1_pix")
    note = ""
    if ap1 is not None and apertures and not agree(apertures[0], ap1):
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
