"""IRAF DAOPHOT (noao.digiphot.daophot) through PyRAF: task calls, running, outputs.

A :class:`Job` (:mod:`ccdphot.wrappers.base`) runs a list of task calls as
one PyRAF job. *Build*: :func:`pset_calls` sets the six parameter sets (their
values are decided by :mod:`ccdphot.daophot.psets`), :func:`phot_call`,
:func:`psf_call`, ... build the task calls, :func:`write_coords` and
:func:`write_pst` their input lists. *Execute*: the calls go as one job to the
PyRAF worker (:func:`ccdphot.wrappers.pyraf.run_iraf`, through the one
runner), the parameter sets first. *Parse*: :func:`read_iraf_daophot` reads IRAF's text
outputs (daofind coo, phot mag, pstselect pst, psf psg, nstar nst, allstar
als) with astropy's ``daophot`` format into the column names of the DAOPHOT II
readers (:mod:`ccdphot.daophot.daophot2_files`); :func:`read_psf_log`,
:func:`read_psf_header` and :func:`read_psf_lookup_tables` read what the PSF
task reported and wrote; :func:`check_psf_fit` refuses an unusable fit.

IRAF assigns photometry IDs 1, 2, ... in the order of the coordinate file; the
callers keep that order to map IDs back to their own star numbers.
"""

import logging
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.io import ascii as astropy_ascii
from astropy.io import fits
from astropy.table import MaskedColumn, Table
from ccdphot.wrappers.base import CatalogResult, ToolJob, ToolResult
from ccdphot.wrappers.pyraf import IrafCall, run_iraf

from ccdphot.errors import OutputParseError, ToolError

log = logging.getLogger(__name__)

PACKAGE = "noao.digiphot.daophot"
_QUIET = {"verify": False, "update": False, "cache": True}
_QUIET_INTERACTIVE = {**_QUIET, "interactive": False}


# --------------------------------------------------------------------------
# Build

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


def seepsf_call(psfimage, image, x_pix="INDEF", y_pix="INDEF"):
    """SEEPSF: the PSF model (analytic function plus look-up table) as an image, at
    (x_pix, y_pix) of the frame (default: the PSF's centre), for the PSF star's magnitude."""
    return IrafCall("seepsf", package=PACKAGE, remove=(image,), params={
        "psfimage": psfimage, "image": image, "xpsf": x_pix, "ypsf": y_pix,
        "dimension": "INDEF", "magnitude": "INDEF"})


def allstar_call(image, photfile, psfimage, allstarfile, rejfile, subimage):
    """ALLSTAR on every star of ``photfile``; writes the star-subtracted image."""
    return IrafCall("allstar", package=PACKAGE, remove=(allstarfile, rejfile, subimage), params={
        "image": image, "photfile": photfile, "psfimage": psfimage,
        "allstarfile": allstarfile, "rejfile": rejfile, "subimage": subimage,
        "verbose": False, **_QUIET})


def write_coords(path, x_pix, y_pix):
    """A PHOT coordinate file: one 'x y' line per star (1-based pixels), in order."""
    lines = [f"{x:.3f} {y:.3f}" for x, y in zip(np.asarray(x_pix, float), np.asarray(y_pix, float))]
    Path(path).write_text("\n".join(lines) + "\n")
    return Path(path)


_PST_HEADER = (
    "#K TASK       = pstselect               name       %-23s     \n#\n"
    "#N ID    XCENTER   YCENTER   MAG         MSKY" + " " * 34 + "\\\n"
    "#U ##    pixels    pixels    magnitudes  counts" + " " * 32 + "\\\n"
    "#F %-9d  %-10.3f   %-10.3f   %-12.3f     %-15.7g" + " " * 32 + "\n#\n")


def write_pst(path, ids, x_pix, y_pix, mags, skies):
    """A PSF-star list in IRAF's own text format (the one PSTSELECT writes, so
    :func:`read_iraf_daophot` reads it back).

    PSF takes the PSF magnitude (PSFMAG) from the first star of this list.
    """
    rows = [f"{int(i):<9d}{x:<10.3f}{y:<10.3f}{m:<12.3f}{s:<15.7g}"
            for i, x, y, m, s in zip(ids, x_pix, y_pix, mags, skies)]
    Path(path).write_text("#\n" + _PST_HEADER + "\n".join(rows) + "\n")
    return Path(path)



# --------------------------------------------------------------------------
# Run


@dataclass(frozen=True, kw_only=True)
class Job(ToolJob):
    """IRAF DAOPHOT task ``calls`` run as one PyRAF job ``name`` in ``work_dir``.

    *Build*: the parameter sets ``psets`` are set first; ``task_params``
    ({task: {pset: {param: value}}}) overrides parameters for the calls of one
    task only (e.g. a legacy PSF fitting radius that differs from ALLSTAR's),
    the job's own values being restored after such a call. *Execute*: one
    :func:`run_iraf` call; ``expect`` lists the files the calls must write
    (each call deletes its own outputs first: DAOPHOT never overwrites).
    *Parse*: a :class:`CatalogResult` of the IRAF text output ``catalog`` when
    given, else a :class:`ToolResult`; figures: the job, its tasks, IRAF's seconds.
    """

    name: str
    psets: dict
    calls: tuple
    expect: tuple = ()
    catalog: str = ""
    task_params: dict = None

    def build(self):
        sequence = pset_calls(self.psets)
        for call in self.calls:
            special = (self.task_params or {}).get(call.task)
            if not special:
                sequence.append(call)
                continue
            sequence += pset_calls({pset: {**self.psets[pset], **params}
                                    for pset, params in special.items()})
            sequence.append(call)
            sequence += pset_calls({pset: self.psets[pset] for pset in special})
        return sequence

    def execute(self, args):
        return run_iraf(self.tool, args, self.work_dir, self.name, expect=self.expect)

    def parse(self, run):
        figures = {"job": self.name, "tasks": [call.task for call in self.calls],
                   "seconds_iraf": round(run.seconds, 2)}
        if self.catalog:
            return CatalogResult(figures=figures, run=run,
                                 table=read_iraf_daophot(self.path(self.catalog)))
        return ToolResult(figures=figures, run=run)


# --------------------------------------------------------------------------
# Parse


# IRAF column -> (ccdphot column, unit); MAG, MERR, PIER, PERROR are below
_IRAF_COLUMNS = {
    "ID": ("ID", None), "GROUP": ("GROUP", None),
    "XCENTER": ("X", u.pix), "YCENTER": ("Y", u.pix),
    "XINIT": ("X_INIT", u.pix), "YINIT": ("Y_INIT", u.pix),
    "MSKY": ("SKY", u.adu), "STDEV": ("SKY_SIGMA", u.adu), "SSKEW": ("SKY_SKEW", u.adu),
    "NSKY": ("NSKY", u.pix ** 2), "NITER": ("NITER", None),
    "SHARPNESS": ("SHARP", None), "SROUND": ("SROUND", None), "GROUND": ("GROUND", None),
    "CHI": ("CHI", None),
    "XERR": ("X_ERR", u.pix), "YERR": ("Y_ERR", u.pix),
}
# phot's per-aperture columns: numbered with several apertures, bare with one
_IRAF_APERTURE = re.compile(r"^(RAPERT|SUM|AREA|FLUX|MAG|MERR|PIER|PERROR)(\d*)$")
_IRAF_APERTURE_UNITS = {"RAPERT": u.pix, "SUM": u.adu, "AREA": u.pix ** 2, "FLUX": u.adu,
                        "MAG": u.mag, "MERR": u.mag}




def _text_lines(path):
    try:
        return Path(path).read_text(errors="replace").splitlines()
    except OSError as err:
        raise OutputParseError(f"{path}: cannot be read ({err.strerror or err})") from err


def _without_units(line):
    """A ``#U`` line with every unit label as ``##`` (no unit), others as they are.

    ccdphot drops IRAF's unit labels and sets its own; astropy would otherwise
    try each label (``counts``, ``perrors``, ``imagename``...) as a unit and
    look for similar unit names, ~0.5 s per PHOT output file.
    """
    if not line.startswith("#U"):
        return line
    return "#U " + " ".join(field if field == "\\" else "##" for field in line[2:].split())


def _iraf_keywords(table):
    keywords = {}
    for key, entry in table.meta.get("keywords", {}).items():
        value = entry.get("value") if isinstance(entry, dict) else entry
        if isinstance(value, str):
            text = value.strip()
            try:
                value = float(text) if text not in ("INDEF", "") else None
            except ValueError:
                value = text
        keywords[key] = value
    return keywords


def _line_of(message, data_lines):
    """' line N' of the first data line holding the value an error message quotes."""
    quoted = re.findall(r"'([^']+)'", message)
    for value in quoted:
        for number, line in data_lines:
            if value in line.split():
                return f" line {number}"
    return ""


def read_iraf_daophot(path):
    """An IRAF DAOPHOT text output (daofind, phot, pstselect, psf, group, nstar,
    allstar) as a Table with the ccdphot column names and units.

    XCENTER/YCENTER -> X/Y (pix), MSKY -> SKY (adu), SHARPNESS -> SHARP; phot's
    per-aperture columns become MAG1.., MERR1.., RAPERT1.. (pix when
    datapars.scale is 1). INDEF is masked. ``meta['iraf_task']`` names the task
    and ``meta['keywords']`` holds the file's #K keywords.
    """
    path = Path(path)
    lines = _text_lines(path)
    data_lines = [(n, line) for n, line in enumerate(lines, start=1)
                  if line.strip() and not line.startswith("#")]
    if data_lines and data_lines[-1][1].rstrip().endswith("\\"):
        raise OutputParseError(f"{path.name} line {data_lines[-1][0]}: the last record continues "
                               "past the end of the file (truncated?)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            raw = astropy_ascii.read([_without_units(line) for line in lines],
                                     format="daophot")
    except (OSError, ValueError, IndexError, TypeError,
            astropy_ascii.InconsistentTableError) as err:
        raise OutputParseError(f"{path.name}{_line_of(str(err), data_lines)}: not a readable "
                               f"IRAF DAOPHOT text file ({err})") from err
    keywords = _iraf_keywords(raw)
    task = keywords.get("TASK")
    if not task:
        raise OutputParseError(f"{path.name}: no '#K TASK' keyword: not an IRAF DAOPHOT "
                               "output file")
    table = Table(masked=True, meta={"source_file": path.name, "iraf_task": task,
                                     "keywords": keywords})
    scale = keywords.get("SCALE") or 1.0
    for name in raw.colnames:
        column = raw[name]
        aperture = _IRAF_APERTURE.match(name)
        if name in _IRAF_COLUMNS:
            new, unit = _IRAF_COLUMNS[name]
        elif aperture:
            new = name
            unit = _IRAF_APERTURE_UNITS.get(aperture.group(1))
            if aperture.group(1) == "RAPERT" and scale != 1.0:
                unit = None
        else:
            new, unit = name, None
        data = MaskedColumn(column, name=new)
        data.unit = unit  # IRAF's own unit labels (##, perrors, timeunit...) are dropped
        if unit is not None and data.dtype.kind not in "fiu":
            raise OutputParseError(f"{path.name}: column {name} should be numeric")
        table[new] = data
    if "MAG1" in table.colnames and "MAG" not in table.colnames:
        table["MAG"] = table["MAG1"]
        table["MERR"] = table["MERR1"]
    if "X" not in table.colnames or "Y" not in table.colnames:
        raise OutputParseError(f"{path.name}: no XCENTER/YCENTER columns in this {task} output")
    log.debug("read %d rows of IRAF %s output %s", len(table), task, path.name)
    return table




# "Fitting function gauss    norm scatter: 0.0203" (one function) or
# "Trying function gauss norm scatter = 0.0382" (function=auto)
_SCATTER = re.compile(r"(?:Fitting|Trying) function\s+(\S+)\s+norm scatter\s*[:=]\s*([-+0-9.eE]+)")
_CHOSEN = re.compile(r"Function:\s*(\S+)")
_N_ADDED = re.compile(r"has been added to the PSF star list")


def read_psf_log(path):
    """What the PSF task reported: {"function", "scatter" {function: norm scatter},
    "n_stars" (added to the PSF)}."""
    text = "\n".join(_text_lines(path))
    scatter = {name: float(value) for name, value in _SCATTER.findall(text)}
    chosen = _CHOSEN.findall(text)
    if not scatter or not chosen:
        raise OutputParseError(f"{path}: no PSF fit reported by the IRAF PSF task "
                               "(see the log file in the work directory)")
    return {"function": chosen[-1], "scatter": scatter, "n_stars": len(_N_ADDED.findall(text))}


def _psf_image_header(path):
    try:
        return fits.getheader(path)
    except OSError as err:
        raise OutputParseError(f"{Path(path).name}: not a readable IRAF PSF image ({err})") from err


def read_psf_header(path):
    """Key figures of an IRAF PSF image: function and its parameters, PSF magnitude,
    height, radius, variability order, and the IDs of the stars it was made from."""
    header = _psf_image_header(path)
    n_params = int(header.get("NPARS", 0))
    n_stars = int(header.get("NPSFSTAR", 0))
    return {"function": header.get("FUNCTION"), "psfmag": header.get("PSFMAG"),
            "psfheight_adu": header.get("PSFHEIGH"), "psfrad_pix": header.get("PSFRAD"),
            "n_psf_stars": header.get("NPSFSTAR"), "varorder": header.get("VARORDER"),
            "x_pix": header.get("PSFX"), "y_pix": header.get("PSFY"),
            "parameters": [header.get(f"PAR{i}") for i in range(1, n_params + 1)],
            "star_ids": [header.get(f"ID{i}") for i in range(1, n_stars + 1)]}


def read_psf_lookup_tables(path):
    """The look-up tables of an IRAF PSF image, shape (n tables, ny, nx), in ADU of a
    PSFMAG star (empty when the PSF is purely analytic, varorder -1)."""
    _psf_image_header(path)
    data = fits.getdata(path)
    return np.zeros((0, 0, 0)) if data is None else np.atleast_3d(data.T).T.astype(float)


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
