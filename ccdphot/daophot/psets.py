"""IRAF DAOPHOT parameter sets: shipped defaults, layers, and what decides them.

The six parameter sets (datapars, findpars, centerpars, fitskypars, photpars,
daopars) are layered, lowest first: the shipped defaults
``default_params/daophot/psets.toml``, the frame (:func:`frame_layer`: seeing,
detector, saturation, the magnitude zero point), the step's radii
(:func:`aperture_layer`, :func:`psf_layer`), a legacy reduction's options, and
the user's ``[daophot.<pset>]`` tables; :func:`merge_psets` applies them.
The IRAF task calls that use them are built by :mod:`ccdphot.wrappers.daophot`.
"""

import logging
import re

from ccdphot.config import read_toml
from ccdphot.errors import ConfigError
from ccdphot.wrappers.base import param_file

log = logging.getLogger(__name__)

PSETS = ("datapars", "findpars", "centerpars", "fitskypars", "photpars", "daopars")
# Analytic PSF functions: IRAF daopars.function -> (DAOPHOT II label, DAOPHOT II AN
# number, number of free analytic parameters), in DAOPHOT's AN order. (IRAF's PSF
# image lists a Moffat's fixed beta as a fourth parameter.)
PSF_FUNCTIONS = {
    "gauss": ("GAUSSIAN", 1, 2),
    "moffat15": ("MOFFAT15", 2, 3),
    "moffat25": ("MOFFAT25", 3, 3),
    "lorentz": ("LORENTZ", 4, 3),
    "penny1": ("PENNY1", 5, 4),
    "penny2": ("PENNY2", 6, 5),
}


def default_psets():
    """The shipped parameter sets: {pset: {param: value}}."""
    data = read_toml(param_file("daophot", "psets.toml").read_text(),
                     "default_params/daophot/psets.toml")
    return {pset: dict(data.get(pset, {})) for pset in PSETS}


def merge_psets(*layers):
    """The shipped defaults with ``layers`` applied, later ones winning, parameter by parameter.

    A pset name outside :data:`PSETS` or a parameter the shipped defaults do
    not know is a ConfigError naming it (IRAF would reject it at run time).
    """
    merged = default_psets()
    for layer in layers:
        for pset, params in (layer or {}).items():
            if pset not in merged:
                raise ConfigError(f"unknown DAOPHOT parameter set '{pset}'; known: "
                                  f"{', '.join(PSETS)}")
            unknown = [name for name in params if name not in merged[pset]]
            if unknown:
                raise ConfigError(f"unknown IRAF parameter(s) {', '.join(unknown)} in {pset}; "
                                  f"known: {', '.join(merged[pset])}")
            merged[pset].update(params)
    return merged


def frame_layer(fwhm_pix, zero_point_mag, gain_e_per_adu=None, readnoise_e=None,
                saturate_adu=None, sky_sigma_adu=None, header_keys=()):
    """Parameters a frame decides: seeing, magnitude zero point, detector noise, saturation.

    ``zero_point_mag`` is ``[photometry] zero_point_mag`` (photpars.zmag: PHOT's
    magnitudes, and through PSFMAG those of PSF/NSTAR/ALLSTAR, are on the scale
    of every other method). ``header_keys`` names the keywords present in the
    working header among AIRMASS, FILTER, DATE-OBS, so IRAF copies them into
    its outputs.
    """
    datapars = {"fwhmpsf": float(fwhm_pix)}
    if gain_e_per_adu:
        datapars["epadu"] = float(gain_e_per_adu)
    if readnoise_e is not None:
        datapars["readnoise"] = float(readnoise_e)
    if saturate_adu:
        datapars["datamax"] = float(saturate_adu)
    if sky_sigma_adu:
        datapars["sigma"] = float(sky_sigma_adu)
    for key, param in (("AIRMASS", "airmass"), ("FILTER", "filter"), ("DATE-OBS", "obstime")):
        if key in header_keys:
            datapars[param] = key
    return {"datapars": datapars, "photpars": {"zmag": float(zero_point_mag)}}


def aperture_layer(config, fwhm_pix):
    """PHOT parameters from ``[aperture]``: radii and sky annulus in pixels."""
    radii = list(config["radii_pix"]) or [r * fwhm_pix for r in config["radii_fwhm"]]
    inner = config["sky_inner_fwhm"] * fwhm_pix
    return {"photpars": {"apertures": [round(r, 2) for r in radii]},
            "fitskypars": {"annulus": round(max(inner, max(radii) + 1.0), 2),
                           "dannulus": round(max(config["sky_width_fwhm"] * fwhm_pix, 3.0), 2)}}


def psf_layer(config, fwhm_pix):
    """daopars from ``[psf]``: function, variability order, PSF and fitting radii."""
    function = config["function"]
    if function != "auto" and function not in PSF_FUNCTIONS:
        raise ConfigError(f"[psf] function = {function!r}: use 'auto' or one of "
                          f"{', '.join(PSF_FUNCTIONS)}")
    psfrad = config["psfrad_fwhm"] * fwhm_pix
    fitrad = config["fitrad_fwhm"] * fwhm_pix
    return {"daopars": {"function": function, "varorder": int(config["varorder"]),
                        "psfrad": round(psfrad, 2), "fitrad": round(fitrad, 2),
                        "sannulus": round(fitrad + 1.0, 2),
                        "wsannulus": round(max(fitrad, 4.0), 2)}}


def aperture_radii(psets):
    """photpars.apertures as a list of radii (it may be a list or IRAF's 'r1,r2' text)."""
    value = psets["photpars"]["apertures"]
    if isinstance(value, str):
        value = [part for part in re.split(r"[,\s]+", value) if part]
    try:
        return [float(radius) for radius in value]
    except ValueError as err:
        raise ConfigError(f"photpars.apertures {value!r} is not a list of radii in pixels "
                          "(IRAF ranges like '3:9:2' are not supported)") from err
