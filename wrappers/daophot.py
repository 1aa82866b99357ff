"""IRAF DAOPHOT (noao.digiphot.daophot) through PyRAF: parameters, task calls, outputs.

*Build*: the six parameter sets (datapars, findpars, centerpars, fitskypars,
photpars, daopars) are layered: the shipped defaults
``default_params/daophot/psets.toml``, then values from the frame
(:func:`frame_psets`), then a legacy reduction's options, then the user's
``[daophot.<pset>]`` tables. *Run*: the task calls (:func:`phot_call`,
:func:`psf_call`, ...) go as one job to the PyRAF worker
(:func:`ccdphot.wrappers.pyraf.run_iraf`), the parameter sets first.
*Parse*: IRAF's text outputs are read by :mod:`ccdphot.daophot_files`; the
PSF task's log and PSF image header by :func:`read_psf_log` and
:func:`read_psf_header`.

IRAF assigns photometry IDs 1, 2, ... in the order of the coordinate file; the
callers keep that order to map IDs back to their own star numbers.
"""

import logging
import re
from pathlib import Path

import numpy as np
from astropy.io import fits
from ccdphot.wrappers.base import param_file
from ccdphot.wrappers.pyraf import IrafCall, run_iraf

from ccdphot.config import read_toml
from ccdphot.errors import ConfigError, OutputParseError, ToolError

log = logging.getLogger(__name__)

PACKAGE = "noao.digiphot.daophot"
PSETS = ("datapars", "findpars", "centerpars", "fitskypars", "photpars", "daopars")
PSF_FUNCTIONS = ("gauss", "moffat15", "moffat25", "lorentz", "penny1", "penny2")
_QUIET = {"verify": False, "update": False, "cache": True}
_QUIET_INTERACTIVE = {**_QUIET, "interactive": False}


def default_psets():
    """The shipped parameter sets: {pset: {param: value}}."""
    data = read_toml(param_file("daophot", "psets.toml").read_text(),
                     "default_params/daophot/psets.toml")
    return {pset: dict(data.get(pset, {})) for pset in PSETS}


def merge_psets(*layers):
    """Later layers override earlier ones, parameter by parameter.

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


def frame_psets(fwhm_pix, gain_e_per_adu=None, readnoise_e=None, saturate_adu=None,
                sky_sigma_adu=None, header_keys=()):
    """Parameters a frame decides: seeing, detector noise, saturation, header keywords.

    ``header_keys`` names the keywords present in the working header among
    AIRMASS, FILTER, DATE-OBS, so IRAF copies them into its outputs.
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
    return {"datapars": datapars}


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


def pset_calls(psets):
    """IrafCalls setting every parameter set (they precede the task calls of a job)."""
    return [IrafCall(pset, params=_iraf_values(params), package=PACKAGE, pset=True)
            for pset, params in psets.items()]


def _iraf_values(params):
    out = {}
    for name, value in params.items():
        if isinstance(value, (list, tuple)):
            value = ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
        out[name] = value
    return out


def phot_call(image, coords, output):
    """PHOT at the positions of ``coords`` (a plain 'x y' file, 1-based pixels)."""
    return IrafCall("phot", package=PACKAGE, remove=(output,), params={
        "image": image, "coords": coords, "output": output, "verbose": False,
        **_QUIET_INTERACTIVE})


def psf_call(image, photfile, pstfile, psfimage, opstfile, groupfile, log_file):
    """PSF from the stars of ``pstfile`` (matched by ID); terminal output to ``log_file``."""
    return IrafCall("psf", package=PACKAGE, stdout=log_file,
                    remove=(psfimage, opstfile, groupfile, log_file), params={
                        "image": image, "photfile": photfile, "pstfile": pstfile,
                        "psfimage": psfimage, "opstfile": opstfile, "groupfile": groupfile,
                        "matchbyid": True, "showplots": False, "mkstars": False,
                        "verbose": True, **_QUIET_INTERACTIVE})


def nstar_call(image, groupfile, psfimage, nstarfile, rejfile):
    """NSTAR on the PSF groups (the PSF stars and their neighbours)."""
    return IrafCall("nstar", package=PACKAGE, remove=(nstarfile, rejfile), params={
        "image": image, "groupfile": groupfile, "psfimage": psfimage,
        "nstarfile": nstarfile, "rejfile": rejfile, "verbose": False, **_QUIET})


def substar_call(image, photfile, exfile, psfimage, subimage):
    """SUBSTAR: subtract the stars of ``photfile`` except those of ``exfile``."""
    return IrafCall("substar", package=PACKAGE, remove=(subimage,), params={
        "image": image, "photfile": photfile, "exfile": exfile, "psfimage": psfimage,
        "subimage": subimage, "verbose": False, **_QUIET})


def allstar_call(image, photfile, psfimage, allstarfile, rejfile, subimage):
    """ALLSTAR on every star of ``photfile``; writes the star-subtracted image."""
    return IrafCall("allstar", package=PACKAGE, remove=(allstarfile, rejfile, subimage), params={
        "image": image, "photfile": photfile, "psfimage": psfimage,
        "allstarfile": allstarfile, "rejfile": rejfile, "subimage": subimage,
        "verbose": False, **_QUIET})


def run(tool, work_dir, job, psets, calls, expect=(), task_params=None):
    """Run ``calls`` after setting ``psets``, as one PyRAF job in ``work_dir``.

    ``task_params`` ({task: {pset: {param: value}}}) overrides parameters for
    the calls of one task only (e.g. a legacy PSF fitting radius that differs
    from ALLSTAR's); the job's own values are restored after such a call.
    """
    sequence = pset_calls(psets)
    for call in calls:
        special = (task_params or {}).get(call.task)
        if not special:
            sequence.append(call)
            continue
        sequence += pset_calls(merge_psets(psets, special))
        sequence.append(call)
        sequence += pset_calls({pset: psets[pset] for pset in special})
    return run_iraf(tool, sequence, work_dir, job, expect=expect)


def write_coords(path, x_pix, y_pix):
    """A PHOT coordinate file: one 'x y' line per star (1-based pixels), in order."""
    lines = [f"{x:.3f} {y:.3f}" for x, y in zip(np.asarray(x_pix, float), np.asarray(y_pix, float))]
    Path(path).write_text("\n".join(lines) + "\n")
    return Path(path)


_PST_HEADER = (
    "#N ID    XCENTER   YCENTER   MAG         MSKY" + " " * 34 + "\\\n"
    "#U ##    pixels    pixels    magnitudes  counts" + " " * 32 + "\\\n"
    "#F %-9d  %-10.3f   %-10.3f   %-12.3f     %-15.7g" + " " * 32 + "\n#\n")


def write_pst(path, ids, x_pix, y_pix, mags, skies):
    """A PSF-star list in IRAF's own text format (the one PSTSELECT writes).

    PSF takes the PSF magnitude (PSFMAG) from the first star of this list.
    """
    rows = [f"{int(i):<9d}{x:<10.3f}{y:<10.3f}{m:<12.3f}{s:<15.7g}"
            for i, x, y, m, s in zip(ids, x_pix, y_pix, mags, skies)]
    Path(path).write_text("#\n" + _PST_HEADER + "\n".join(rows) + "\n")
    return Path(path)


# "Fitting function gauss    norm scatter: 0.0203" (one function) or
# "Trying function gauss norm scatter = 0.0382" (function=auto)
_SCATTER = re.compile(r"(?:Fitting|Trying) function\s+(\S+)\s+norm scatter\s*[:=]\s*([-+0-9.eE]+)")
_CHOSEN = re.compile(r"Function:\s*(\S+)")
_N_READ = re.compile(r"([0-9]+) PSF stars read from")
_N_ADDED = re.compile(r"has been added to the PSF star list")


def read_psf_log(path):
    """What the PSF task reported: {"function", "scatter" {function: norm scatter}, "n_stars"}."""
    text = Path(path).read_text(errors="replace")
    scatter = {name: float(value) for name, value in _SCATTER.findall(text)}
    chosen = _CHOSEN.findall(text)
    if not scatter or not chosen:
        raise OutputParseError(f"{path}: no PSF fit reported by the IRAF PSF task "
                               "(see the log file in the work directory)")
    return {"function": chosen[-1], "scatter": scatter,
            "n_stars": len(_N_ADDED.findall(text))}


def read_psf_header(path):
    """Key figures of an IRAF PSF image: function, PSF magnitude, height, radius, stars."""
    header = fits.getheader(path)
    return {"function": header.get("FUNCTION"), "psfmag": header.get("PSFMAG"),
            "psfheight_adu": header.get("PSFHEIGH"), "psfrad_pix": header.get("PSFRAD"),
            "n_psf_stars": header.get("NPSFSTAR"), "varorder": header.get("VARORDER"),
            "x_pix": header.get("PSFX"), "y_pix": header.get("PSFY"),
            "par1": header.get("PAR1"), "par2": header.get("PAR2")}


def check_psf_fit(report, model, max_scatter, log_name):
    """Raise ToolError when IRAF PSF "succeeded" with an unusable model.

    IRAF writes a PSF even from blank sky (negative height, norm scatter near
    1): a non-positive height or a fit scatter above ``max_scatter`` is a failure.
    """
    scatter = report["scatter"].get(report["function"])
    height = model.get("psfheight_adu")
    if height is None or height <= 0 or scatter is None or scatter > max_scatter:
        raise ToolError("IRAF DAOPHOT psf", f"PSF fit failed: function {report['function']}, "
                        f"height {height} ADU, norm scatter {scatter} (maximum {max_scatter}); "
                        f"see work/{log_name} and check the PSF stars, or raise "
                        "[psf] max_fit_scatter")
