"""One interface, two engines: a period search as VARTOOLS commands or natively.

A :class:`PeriodSearch` says what to compute (method and options). It knows the
VARTOOLS command chain that computes it and the native functions that compute
the same columns, with the same names (``LS_Period_1_0``, ...). :func:`search`
runs it on many light curves: the VARTOOLS engine in one VARTOOLS call on a list,
the native engine light curve by light curve. A light curve that cannot be
searched gets its own error; the others go on.
"""

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.table import Table

from ccdphot.errors import CCDPhotError
from ccdphot.periods import aov as aov_module
from ccdphot.periods.bls import bls as bls_native
from ccdphot.periods.fourier import fit_fourier, fourier_columns
from ccdphot.periods.lightcurve import LightCurveError, check_period_range, require_points
from ccdphot.periods.lombscargle import lomb_scargle
from ccdphot.wrappers import vartools as vt

log = logging.getLogger(__name__)

METHODS = ("ls", "bls", "aov", "aov_harm", "fourier")
ENGINES = ("vartools", "native")


@dataclass(frozen=True)
class PeriodSearch:
    """What to search for; defaults are VARTOOLS's usual ones.

    ``nharm``: harmonics of harmonic AoV; ``fourier_terms``: terms of the Fourier
    series (1 = a sinusoid) fitted at ``period`` (or at the LS period when None).
    """

    method: str = "ls"
    min_period: float = 0.1
    max_period: float = 10.0
    subsample: float = 0.1
    finetune: float = 0.01
    npeaks: int = 1
    nbin: int = 20
    nharm: int = 2
    fourier_terms: int = 4
    period: float = None
    q_min: float = 0.01
    q_max: float = 0.1
    nfreq: int = 20000
    bls_bins: int = 200

    def __post_init__(self):
        if self.method not in METHODS:
            raise CCDPhotError(f"period method '{self.method}' unknown; use one of "
                               f"{', '.join(METHODS)}")

    @property
    def periodogram_suffix(self):
        return {"ls": "ls", "aov": "aov", "aov_harm": "aov_harm", "bls": "bls",
                "fourier": "ls"}[self.method]

    def min_points(self):
        """Points a light curve needs for this search (more than the free parameters)."""
        return {"ls": 3, "aov": self.nbin, "aov_harm": 2 * self.nharm + 1, "bls": 5,
                "fourier": 2 * self.fourier_terms + 1}[self.method]

    def vartools_commands(self, periodogram_dir=None):
        """The VARTOOLS command chain computing this search's columns."""
        if self.method == "ls" or (self.method == "fourier" and self.period is None):
            commands = [vt.ls(self.min_period, self.max_period, self.subsample, self.npeaks,
                              periodogram_dir)]
        elif self.method == "aov":
            commands = [vt.aov(self.min_period, self.max_period, self.subsample, self.finetune,
                               self.npeaks, periodogram_dir, nbin=self.nbin)]
        elif self.method == "aov_harm":
            commands = [vt.aov_harm(self.nharm, self.min_period, self.max_period, self.subsample,
                                    self.finetune, self.npeaks, periodogram_dir)]
        elif self.method == "bls":
            commands = [vt.bls(self.q_min, self.q_max, self.min_period, self.max_period,
                               self.nfreq, self.bls_bins, 0, self.npeaks, periodogram_dir,
                               nobinnedrms=True)]
        else:
            commands = []
        if self.method == "fourier":
            source = "ls" if self.period is None else self.period
            commands.append(vt.killharm(source, self.fourier_terms - 1, fitonly=True,
                                        output="outRphi"))
        return commands

    def check(self, lc):
        """Raise LightCurveError when ``lc`` is too short or its span misses the periods."""
        require_points(lc, self.min_points(), f"method {self.method}")
        if self.method != "fourier" or self.period is None:
            check_period_range(lc, self.min_period, self.max_period)

    def native(self, lc):
        """(columns, periodogram Table or None) for one light curve."""
        self.check(lc)
        if self.method == "ls" or (self.method == "fourier" and self.period is None):
            columns, periodogram = lomb_scargle(lc, self.min_period, self.max_period,
                                                self.subsample, self.npeaks)
        elif self.method == "aov":
            columns, periodogram = aov_module.aov(lc, self.min_period, self.max_period,
                                                  self.subsample, self.finetune, self.npeaks,
                                                  nbin=self.nbin)
        elif self.method == "aov_harm":
            columns, periodogram = aov_module.aov_harm(lc, self.nharm, self.min_period,
                                                       self.max_period, self.subsample,
                                                       self.finetune, self.npeaks)
        elif self.method == "bls":
            columns, periodogram = bls_native(lc, self.q_min, self.q_max, self.min_period,
                                              self.max_period, self.nfreq, self.bls_bins,
                                              self.npeaks)
        else:
            columns, periodogram = {}, None
        if self.method == "fourier":
            period = self.period if self.period is not None else columns["LS_Period_1_0"]
            fit = fit_fourier(lc["t"], lc["mag"], lc["err"], period, self.fourier_terms - 1)
            columns.update(fourier_columns(fit, index=1 if self.period is None else 0,
                                           style="Rphi"))
        return columns, periodogram

    def best_period(self, row):
        """The period a result row reports first."""
        for name in ("LS_Period_1_0", "Period_1_0", "BLS_Period_1_0", "Killharm_Period_1_0"):
            if name in row.colnames:
                return float(row[name])
        raise KeyError("no period column")


def read_periodogram(search, path):
    """A periodogram VARTOOLS wrote, as the Table the native engine returns."""
    if search.method == "bls":
        return vt.read_bls_periodogram(path)
    if search.method in ("aov", "aov_harm"):
        return vt.read_aov_periodogram(path)
    table = vt.read_ls_periodogram(path)
    return table[["FREQUENCY", "POWER_0"]]


@dataclass
class SearchResult:
    """Rows of the light curves searched, errors of the others, periodograms by name."""

    table: Table
    errors: dict
    periodograms: dict


def _rows_to_table(rows):
    """One row per (name, columns dict); ``Name`` first, columns in their first order."""
    if not rows:
        return Table({"Name": np.array([], dtype=str)})
    names = list(rows[0][1])
    table = Table({"Name": [name for name, _ in rows]})
    for column in names:
        table[column] = [values.get(column, np.nan) for _, values in rows]
    return table


def search(lightcurves, spec, engine="native", tools=None, work_dir=None):
    """Run ``spec`` on ``lightcurves`` (dict name -> Table) with ``engine``.

    ``tools`` is a :class:`~ccdphot.tools.ToolRegistry` (needed for VARTOOLS).
    Returns a :class:`SearchResult`; rows keep the order of ``lightcurves``.
    """
    if engine not in ENGINES:
        raise CCDPhotError(f"period engine '{engine}' unknown; use one of {', '.join(ENGINES)}")
    errors, good = {}, {}
    for name, lc in lightcurves.items():
        try:
            spec.check(lc)
        except LightCurveError as err:
            errors[name] = str(err)
            continue
        good[name] = lc
    if engine == "native":
        rows, periodograms = [], {}
        for name, lc in good.items():
            try:
                columns, periodograms[name] = spec.native(lc)
            except LightCurveError as err:
                errors[name] = str(err)
                continue
            rows.append((name, columns))
        return SearchResult(_rows_to_table(rows), errors, periodograms)
    return _search_vartools(good, spec, tools, work_dir, errors)


def _search_vartools(lightcurves, spec, tools, work_dir, errors):
    if not lightcurves:
        return SearchResult(_rows_to_table([]), errors, {})
    tool = tools.use("vartools")
    with tempfile.TemporaryDirectory(prefix="ccdphot-vartools-", dir=work_dir) as scratch:
        scratch = Path(scratch)
        (scratch / "periodograms").mkdir()
        commands = spec.vartools_commands("periodograms")
        job = vt.Job(tool, scratch, lightcurves=lightcurves, commands=tuple(commands))
        table = job.run().table
        periodograms = {}
        for index, name in enumerate(lightcurves, start=1):
            path = scratch / "periodograms" / f"lc_{index:04d}.txt.{spec.periodogram_suffix}"
            if path.is_file():
                periodograms[name] = read_periodogram(spec, path)
    return SearchResult(table, errors, periodograms)
