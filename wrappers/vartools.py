"""VARTOOLS: build its command lines, run it, parse what it prints and writes.

*Build*: each VARTOOLS command is a :class:`Command` made by one function here
(:func:`ls`, :func:`aov`, :func:`bls`, :func:`killharm`, :func:`stats`, ...) with the
arguments in VARTOOLS's own order; :func:`build_argv` puts the input (one light
curve or a list), the output layout and the commands together. :class:`Job`
(the wrapper contract, docs/architecture.rst) writes the light curves as plain
``t mag err`` files under plain names in the work directory (so no path with
spaces reaches VARTOOLS) and runs it through the one runner. *Parse*:
:func:`parse_stdout` reads the three layouts VARTOOLS prints (``-header``,
``-oneline``, plain rows) into a Table whose column names are VARTOOLS's own
(``LS_Period_1_0``); the ``read_*`` functions read the periodograms, models and
light curves it writes. Times are in the light curves' own unit (days for every
set ccdphot ships); magnitudes in mag.
"""

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
from astropy import units as u
from astropy.table import Table

from ccdphot.errors import InputError, OutputParseError, ToolError
from ccdphot.wrappers.base import CatalogResult, ToolJob

log = logging.getLogger(__name__)

LIST_FILE = "lightcurves.list"


@dataclass(frozen=True)
class Command:
    """One VARTOOLS command: its option (``-LS``) and arguments, in VARTOOLS's order."""

    option: str
    args: tuple = ()

    def argv(self):
        return [self.option, *(_token(a) for a in self.args)]


def _token(value):
    """A command-line token: floats in their shortest exact form, paths as given."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _clip_args(whiten, clip):
    args = ["whiten"] if whiten else []
    if clip is not None:
        sigma, iterate = clip
        args += ["clip", float(sigma), int(iterate)]
    return args


def _periodogram_args(directory):
    return [1, str(directory)] if directory is not None else [0]


def ls(min_period, max_period, subsample, npeaks=1, periodogram_dir=None, whiten=False,
       clip=None):
    """``-LS``: generalised Lomb-Scargle; ``clip`` is (sigma, iterate) for its SNR."""
    return Command("-LS", (float(min_period), float(max_period), float(subsample), int(npeaks),
                           *_periodogram_args(periodogram_dir), *_clip_args(whiten, clip)))


def aov(min_period, max_period, subsample, finetune, npeaks=1, periodogram_dir=None,
        nbin=None, whiten=False, clip=None):
    """``-aov``: phase-binned analysis of variance (``nbin`` phase bins, default 8)."""
    nbin_args = ["Nbin", int(nbin)] if nbin is not None else []
    return Command("-aov", (*nbin_args, float(min_period), float(max_period), float(subsample),
                            float(finetune), int(npeaks), *_periodogram_args(periodogram_dir),
                            *_clip_args(whiten, clip)))


def aov_harm(nharm, min_period, max_period, subsample, finetune, npeaks=1,
             periodogram_dir=None, whiten=False, clip=None):
    """``-aov_harm``: multi-harmonic AoV with ``nharm`` harmonics."""
    return Command("-aov_harm", (int(nharm), float(min_period), float(max_period),
                                 float(subsample), float(finetune), int(npeaks),
                                 *_periodogram_args(periodogram_dir), *_clip_args(whiten, clip)))


def bls(q_min, q_max, min_period, max_period, nfreq, nbins, timezone=0.0, npeaks=1,
        periodogram_dir=None, model_dir=None, correct_lc=False, fittrap=False,
        nobinnedrms=False, phase_curve=None):
    """``-BLS`` with the transit duration as a fraction ``q`` of the period.

    ``phase_curve`` is (directory, phase_min, phase_max, phase_step) for ``ophcurve``.
    """
    args = ["q", float(q_min), float(q_max), float(min_period), float(max_period), int(nfreq),
            int(nbins), timezone, int(npeaks), *_periodogram_args(periodogram_dir),
            *_periodogram_args(model_dir), bool(correct_lc)]
    if fittrap:
        args.append("fittrap")
    if nobinnedrms:
        args.append("nobinnedrms")
    if phase_curve is not None:
        directory, phase_min, phase_max, step = phase_curve
        args += ["ophcurve", str(directory), float(phase_min), float(phase_max), float(step)]
    return Command("-BLS", tuple(args))


def bls_fixed_period(period, q_min, q_max, nbins, timezone=0.0, model_dir=None,
                     correct_lc=False, fittrap=False):
    """``-BLSFixPer`` at a given period."""
    args = ["fix", float(period), "q", float(q_min), float(q_max), int(nbins), timezone,
            *_periodogram_args(model_dir), bool(correct_lc)]
    if fittrap:
        args.append("fittrap")
    return Command("-BLSFixPer", tuple(args))


KILLHARM_OUTPUTS = ("outampphase", "outampradphase", "outRphi", "outRradphi")


def killharm(period, nharm, nsubharm=0, model_dir=None, fitonly=False, output=None, clip=None):
    """``-Killharm``: Fourier series at ``period``.

    ``period`` is ``"ls"``, ``"aov"`` or ``"both"`` (the period an earlier command
    found) or a number or list of numbers (``fix``); ``nharm`` harmonics above the
    fundamental; ``output`` one of :data:`KILLHARM_OUTPUTS` (default: sine and
    cosine coefficients).
    """
    if isinstance(period, str):
        source = [period]
    else:
        periods = [float(p) for p in np.atleast_1d(period)]
        source = ["fix", len(periods), *periods]
    args = [*source, int(nharm), int(nsubharm), *_periodogram_args(model_dir)]
    if fitonly:
        args.append("fitonly")
    if output is not None:
        if output not in KILLHARM_OUTPUTS:
            raise InputError(f"Killharm output '{output}' unknown; use one of "
                             f"{', '.join(KILLHARM_OUTPUTS)}")
        args.append(output)
    if clip is not None:
        args += ["clip", float(clip)]
    return Command("-Killharm", tuple(args))


def rms():
    """``-rms``: Mean_Mag, RMS, Expected_RMS, Npoints."""
    return Command("-rms")


def chi2():
    """``-chi2``: reduced chi-squared about the weighted mean."""
    return Command("-chi2")


def stats(variables, statistics):
    """``-stats``: e.g. ``stats(["mag"], ["mean", "median", "pct10"])``."""
    return Command("-stats", (",".join(variables), ",".join(statistics)))


def sigma_clip(sigma, iterate=True):
    """``-clip``: remove points more than ``sigma`` standard deviations from the mean."""
    return Command("-clip", (float(sigma), int(bool(iterate))))


def decorr(lc_terms, correct_lc=True, zero_point=True, subtract_first_term=True):
    """``-decorr`` against light-curve columns: ``lc_terms`` is [(column, order), ...]."""
    terms = [v for column, order in lc_terms for v in (int(column), int(order))]
    return Command("-decorr", (bool(correct_lc), bool(zero_point), bool(subtract_first_term), 0,
                               len(lc_terms), *terms, 0))


def median_filter(time, replace=False):
    """``-medianfilter``: subtract (or, ``replace``, keep) a running median of width ``time``."""
    return Command("-medianfilter", (float(time), *(["replace"] if replace else [])))


BINLC_METHODS = {"average": 0, "median": 1, "weightedaverage": 2}
BINLC_TIMES = {"tcenter": 0, "taverage": 1, "tmedian": 2, "tnoshrink": 3}


def binlc(method="average", binsize=None, nbins=None, time="tcenter"):
    """``-binlc``: bins of ``binsize`` (time units) or ``nbins`` bins (e.g. in phase)."""
    if (binsize is None) == (nbins is None):
        raise InputError("binlc needs exactly one of binsize and nbins")
    size = ["binsize", float(binsize)] if binsize is not None else ["nbins", int(nbins)]
    return Command("-binlc", (BINLC_METHODS[method], *size, BINLC_TIMES[time]))


def phase(period):
    """``-Phase``: replace times by phases at ``period`` (a number, or "ls"/"aov"/"bls")."""
    if isinstance(period, str):
        return Command("-Phase", (period,))
    return Command("-Phase", ("fix", float(period)))


def save_lc():
    """``-savelc``: remember the light curve for a later :func:`restore_lc`."""
    return Command("-savelc")


def restore_lc(save_number=1):
    """``-restorelc``: go back to the light curve of the n-th ``-savelc``."""
    return Command("-restorelc", (int(save_number),))


def output_lc(path):
    """``-o``: write the light curve as it is at this point of the chain."""
    return Command("-o", (str(path),))


LAYOUTS = ("header", "oneline")


def build_argv(commands, lc=None, lc_list=None, layout="header", ascii_periodograms=False):
    """The argv after ``vartools``: input, output layout, then the commands in order."""
    if (lc is None) == (lc_list is None):
        raise InputError("VARTOOLS needs exactly one of a light curve (-i) and a list (-l)")
    if layout not in LAYOUTS:
        raise InputError(f"VARTOOLS layout '{layout}' unknown; use one of {', '.join(LAYOUTS)}")
    argv = ["-i", str(lc)] if lc is not None else ["-l", str(lc_list)]
    argv.append(f"-{layout}")
    if ascii_periodograms:
        argv.append("-ascii")
    for command in commands:
        argv += command.argv()
    return argv


def write_lightcurve(table, path):
    """Write a light curve (columns t, mag, err) as the plain text VARTOOLS reads.

    ``%.17g`` keeps every double exactly, so VARTOOLS sees the values ccdphot has.
    """
    data = np.column_stack([np.asarray(table[c], dtype=float) for c in ("t", "mag", "err")])
    np.savetxt(path, data, fmt="%.17g")
    return Path(path)


@dataclass(frozen=True, kw_only=True)
class Job(ToolJob):
    """VARTOOLS on ``lightcurves`` (a dict name -> Table with t, mag, err): ``commands``.

    *Build* writes the light curves as ``lc_0001.txt``, ... and their list into
    the work directory (output arguments of the commands are relative to it);
    *parse* reads the ``-header`` table VARTOOLS prints, ``Name`` mapped back to
    the given names; *check* refuses a run that did not print one row per light
    curve. The result is a :class:`~ccdphot.wrappers.base.CatalogResult`.
    """

    lightcurves: Mapping
    commands: tuple
    ascii_periodograms: bool = True
    outputs = ()

    def _plain_names(self):
        return {f"lc_{index:04d}.txt": name
                for index, name in enumerate(self.lightcurves, start=1)}

    def build(self):
        for file_name, name in self._plain_names().items():
            write_lightcurve(self.lightcurves[name], self.path(file_name))
        self.path(LIST_FILE).write_text("".join(f"{n}\n" for n in self._plain_names()))
        return build_argv(self.commands, lc_list=LIST_FILE, layout="header",
                          ascii_periodograms=self.ascii_periodograms)

    def parse(self, run):
        table = parse_stdout(run.stdout)
        plain = self._plain_names()
        table["Name"] = [plain.get(str(n), str(n)) for n in table["Name"]]
        table.meta.update(tool="VARTOOLS", version=self.tool.version, argv=list(run.argv))
        return CatalogResult(figures={"n_lightcurves": len(table)}, run=run, table=table)

    def check(self, result):
        if list(result.table["Name"]) != list(self.lightcurves):
            raise ToolError(self.label, f"printed {len(result.table)} row(s) for "
                            f"{len(self.lightcurves)} light curve(s)", argv=result.run.argv)


# --------------------------------------------------------------------------- parsing

def _number(text):
    """int for integer tokens, float otherwise (``nan``/``inf`` included); None if neither."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return None


def _table(names, rows, origin):
    columns = []
    for index, name in enumerate(names):
        values = [row[index] for row in rows]
        if name == "Name":
            columns.append(np.array(values, dtype=str))
            continue
        numbers = [_number(v) for v in values]
        if any(n is None for n in numbers):
            raise OutputParseError(f"{origin}: column {name} holds a non-number "
                                   f"({values[[n is None for n in numbers].index(True)]!r})")
        kind = int if all(isinstance(n, int) for n in numbers) else float
        columns.append(np.array(numbers, dtype=kind))
    return Table(columns, names=names)


def _strip_column_number(name):
    """``#1_Name`` / ``2_LS_Period_1_0`` (``-numbercolumns``) -> ``Name`` / ``LS_Period_1_0``."""
    head, _, rest = name.partition("_")
    return rest if head.isdigit() and rest else name


def parse_stdout(text, origin="VARTOOLS stdout"):
    """The table VARTOOLS prints, in any of its layouts, as an astropy Table.

    ``-header``: a ``#Name ...`` line, then one row per light curve. ``-oneline``:
    ``Key = value`` lines, a blank line after each light curve. Without either,
    the rows alone: their columns are named ``col1``, ... (VARTOOLS printed no names).
    """
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise OutputParseError(f"{origin}: VARTOOLS printed nothing")
    if lines[0].startswith("#"):
        names = [_strip_column_number(n) for n in lines[0].lstrip("#").split()]
        rows = [line.split() for line in lines[1:]]
    elif " = " in lines[0]:
        names, rows, row = [], [], {}
        for line in lines:
            key, sep, value = line.partition("=")
            if not sep:
                raise OutputParseError(f"{origin}: line {line!r} is not 'Key = value'")
            key, value = key.strip(), value.strip()
            if key == "Name" and row:
                rows.append(row)
                row = {}
            if not rows and key not in names:
                names.append(key)
            row[key] = value
        rows.append(row)
        rows = [[r.get(n, "nan") for n in names] for r in rows]
    else:
        rows = [line.split() for line in lines]
        names = ["Name"] + [f"col{i}" for i in range(2, len(rows[0]) + 1)]
    bad = [r for r in rows if len(r) != len(names)]
    if bad:
        raise OutputParseError(f"{origin}: a row has {len(bad[0])} values for "
                               f"{len(names)} columns")
    return _table(names, rows, origin)


def _read_numbers(path, what):
    path = Path(path)
    try:
        data = np.loadtxt(path, comments="#", ndmin=2)
    except (OSError, ValueError) as err:
        raise OutputParseError(f"{path.name}: cannot read the VARTOOLS {what} ({err})") from err
    return path, data


def read_ls_periodogram(path):
    """``*.ls``: FREQUENCY (1/d), then POWER_<c> (GLS P) and LOG10_FAP_<c> per whitening cycle."""
    path, data = _read_numbers(path, "Lomb-Scargle periodogram")
    if data.shape[1] < 3 or data.shape[1] % 2 == 0:
        raise OutputParseError(f"{path.name}: a Lomb-Scargle periodogram has 1 + 2n columns, "
                               f"found {data.shape[1]}")
    table = Table({"FREQUENCY": data[:, 0] / u.day})
    for cycle in range((data.shape[1] - 1) // 2):
        table[f"POWER_{cycle}"] = data[:, 1 + 2 * cycle]
        table[f"LOG10_FAP_{cycle}"] = data[:, 2 + 2 * cycle]
    return table


def read_aov_periodogram(path):
    """``*.aov`` / ``*.aov_harm``: PERIOD (d), then THETA_<c> per whitening cycle."""
    path, data = _read_numbers(path, "AoV periodogram")
    if data.shape[1] < 2:
        raise OutputParseError(f"{path.name}: an AoV periodogram has a period and a statistic")
    table = Table({"PERIOD": data[:, 0] * u.day})
    for cycle in range(data.shape[1] - 1):
        table[f"THETA_{cycle}"] = data[:, 1 + cycle]
    return table


def read_bls_periodogram(path):
    """``*.bls``: PERIOD (d), SN, SR."""
    path, data = _read_numbers(path, "BLS spectrum")
    if data.shape[1] != 3:
        raise OutputParseError(f"{path.name}: a BLS spectrum has 3 columns, found {data.shape[1]}")
    return Table({"PERIOD": data[:, 0] * u.day, "SN": data[:, 1], "SR": data[:, 2]})


def read_model(path):
    """``*.bls.model`` / ``*.killharm.model``: T, MAG, MAG_MODEL, MAG_ERR (and PHASE for BLS)."""
    path, data = _read_numbers(path, "model light curve")
    names = ["T", "MAG", "MAG_MODEL", "MAG_ERR", "PHASE"][: data.shape[1]]
    if data.shape[1] not in (4, 5):
        raise OutputParseError(f"{path.name}: a model file has 4 or 5 columns, "
                               f"found {data.shape[1]}")
    units = {"T": u.day, "MAG": u.mag, "MAG_MODEL": u.mag, "MAG_ERR": u.mag}
    return Table([data[:, i] * units.get(n, 1) if n in units else data[:, i]
                  for i, n in enumerate(names)], names=names)


def read_phase_curve(path):
    """``*.bls.phcurve``: PHASE, MAG_MODEL (mag)."""
    path, data = _read_numbers(path, "phase curve")
    if data.shape[1] != 2:
        raise OutputParseError(f"{path.name}: a phase curve has 2 columns, found {data.shape[1]}")
    return Table({"PHASE": data[:, 0], "MAG_MODEL": data[:, 1] * u.mag})


def read_lightcurve(path):
    """A light curve VARTOOLS wrote with ``-o``: t (d, or phase after ``-Phase``), mag, err."""
    path, data = _read_numbers(path, "light curve")
    if data.shape[1] < 3:
        raise OutputParseError(f"{path.name}: a light curve has t, mag, err; found "
                               f"{data.shape[1]} columns")
    return Table({"t": data[:, 0], "mag": data[:, 1] * u.mag, "err": data[:, 2] * u.mag})
