"""Native period engine: agreement with VARTOOLS on every reference case, bad input,
the Fourier convention on injected truth, and ``ccdphot period`` with both engines.

The VARTOOLS reference set (GPL-3.0) is read from ../shared/data (``shared_data``).
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

from ccdphot.config import load_config
from ccdphot.periods.engine import PeriodSearch, search
from ccdphot.periods.fourier import fit_fourier, fourier_columns
from ccdphot.periods.lightcurve import LightCurveError, check_lightcurve, read_lightcurve
from ccdphot.tools import ToolRegistry

_spec = importlib.util.spec_from_file_location(
    "periods_reference", Path(__file__).with_name("periods_reference.py"))
reference = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(reference)

# bls_3transit scans 100 000 frequencies (~25 s here); the same code and columns are
# checked on bls_3transit_header (20 000), and benchmarks/periods_agreement.py runs it.
SLOW_CASES = {"bls_3transit"}


@pytest.fixture(scope="module")
def vartools_data(shared_data):
    return shared_data / "vartools"


@pytest.mark.parametrize("case", sorted(set(reference.CASES) - SLOW_CASES))
def test_native_agrees_with_vartools(vartools_data, case):
    rows = reference.compare(vartools_data, case)
    assert rows
    unexplained = [row for row in rows if not row[5] and not row[6]]
    assert not unexplained, unexplained
    periods = [row for row in rows if reference.kind(row[2]) == "period"]
    assert all(row[5] for row in periods if not row[6])


@pytest.mark.parametrize("case", sorted(reference.OUTPUT_LIGHTCURVES))
def test_native_output_lightcurves_agree(vartools_data, case):
    name, make = reference.OUTPUT_LIGHTCURVES[case]
    recorded = np.loadtxt(vartools_data / "reference" / case / name)
    native = make(vartools_data)
    assert len(native) == len(recorded)
    for index, column in enumerate(("t", "mag", "err")):
        # VARTOOLS writes 5 decimals for mag and err, 9 for times
        assert np.allclose(native[column], recorded[:, index], rtol=0, atol=6e-6)


def _lc(name, t, mag, err=None):
    err = np.full(len(t), 0.01) if err is None else err
    return Table({"t": np.asarray(t, float), "mag": np.asarray(mag, float),
                  "err": np.asarray(err, float)}, meta={"name": name})


def _sinusoid(n=300, period=0.7, seed=1):
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0, 20, n))
    return t, 12 + 0.2 * np.cos(2 * np.pi * t / period + 0.3) + rng.normal(0, 0.01, n)


@pytest.mark.parametrize("make, message", [
    (lambda: _lc("empty", [], []), "is empty"),
    (lambda: _lc("flat", np.arange(10.), np.full(10, 12.)), "constant"),
    (lambda: _lc("nan", np.arange(10.), [1, 2, np.nan, 4, 5, 6, 7, 8, 9, 10]),
     r"1 NaN or infinite value\(s\) in 'mag' \(first at row 3\)"),
    (lambda: _lc("unsorted", [0, 2, 1, 3, 4, 5], np.arange(6.)), "not sorted .row 3"),
    (lambda: _lc("dup", [0, 1, 1, 3, 4, 5], np.arange(6.)), "duplicate times .row 3"),
    (lambda: _lc("short", [0, 1, 2], [1, 2, 3]), "3 point.s.; at least 5"),
    (lambda: _lc("zero err", np.arange(6.), np.arange(6.), np.zeros(6)), "must be positive"),
])
def test_bad_lightcurves_are_refused_clearly(make, message):
    with pytest.raises(LightCurveError, match=message):
        check_lightcurve(make())


def test_bad_lightcurves_do_not_stop_the_others():
    t, mag = _sinusoid()
    lcs = {"good": _lc("good", t, mag),
           "too short for order": _lc("too short for order", t[:8], mag[:8]),
           "span": _lc("span", t[:40] / 100, mag[:40])}
    result = search(lcs, PeriodSearch("fourier", fourier_terms=4, min_period=0.3,
                                      max_period=5), "native")
    assert list(result.table["Name"]) == ["good"]
    assert "8 points are too few for method fourier" in result.errors["too short for order"]
    assert "not shorter than the data's span" in result.errors["span"]
    assert result.table["LS_Period_1_0"][0] == pytest.approx(0.7, rel=1e-3)


def test_unreadable_files_name_the_file(tmp_path):
    bad = tmp_path / "my lc.txt"
    bad.write_text("1 2\n3 4\n")
    with pytest.raises(LightCurveError, match="my lc.txt: not a 't mag err' text light curve"):
        read_lightcurve(bad)
    table = tmp_path / "lc.ecsv"
    Table({"JD": [1.0, 2.0], "FLUX": [1.0, 2.0]}).write(table)
    with pytest.raises(LightCurveError, match="no magnitude column .*--columns"):
        read_lightcurve(table)


def test_fourier_convention_on_injected_truth():
    """Cosine series, phases in cycles, phi_k1 = phi_k - k phi_1 (docs/periods.rst)."""
    t = np.linspace(0, 10, 400)
    period, amps, phis = 0.6, (0.30, 0.12, 0.05), (0.10, -0.20, 0.35)
    mag = 15 + sum(a * np.cos(2 * np.pi * (k + 1) * t / period + 2 * np.pi * p)
                   for k, (a, p) in enumerate(zip(amps, phis)))
    columns = fourier_columns(fit_fourier(t, mag, np.full(len(t), 0.01), period, 2), 0, "Rphi")
    assert columns["Killharm_Per1_Fundamental_Amp_0"] == pytest.approx(0.30, abs=1e-10)
    assert columns["Killharm_Per1_Fundamental_Phi_0"] == pytest.approx(0.10, abs=1e-10)
    assert columns["Killharm_Per1_Harm_R_2_1_0"] == pytest.approx(0.12 / 0.30, abs=1e-10)
    assert columns["Killharm_Per1_Harm_Phi_2_1_0"] == pytest.approx(-0.20 - 2 * 0.10, abs=1e-10)
    assert columns["Killharm_Per1_Harm_Phi_3_1_0"] == pytest.approx(0.35 - 3 * 0.10, abs=1e-10)
    # a sine series of the same curve: phi21 a quarter cycle (pi/2), phi31 half a cycle (pi) less
    sine_phis = [p + 0.25 for p in phis]
    assert (sine_phis[1] - 2 * sine_phis[0]) - (phis[1] - 2 * phis[0]) == pytest.approx(-0.25)
    assert (sine_phis[2] - 3 * sine_phis[0]) - (phis[2] - 3 * phis[0]) == pytest.approx(-0.5)


def _write_lightcurves(directory):
    t, mag = _sinusoid()
    good = directory / "star with spaces.txt"
    np.savetxt(good, np.column_stack([t, mag, np.full(len(t), 0.01)]))
    ecsv = directory / "lc.ecsv"  # as ccdphot lightcurve writes it: a frame without the star
    dmag = np.ma.masked_array(mag, mask=np.arange(len(t)) == 5)
    Table({"BJD_TDB": t, "DMAG": dmag, "DMAG_ERR": np.full(len(t), 0.01)}).write(ecsv)
    flat = directory / "flat.txt"
    np.savetxt(flat, np.column_stack([np.arange(20.), np.full(20, 10.), np.full(20, 0.01)]))
    return good, ecsv, flat


def test_cli_native_writes_table_plots_and_errors(tmp_path, ccdphot_cli):
    good, ecsv, flat = _write_lightcurves(tmp_path)
    out = tmp_path / "periods.ecsv"
    done = ccdphot_cli("period", good, ecsv, flat, "--method", "aov_harm", "--engine", "native",
                       "--min-period", "0.2", "--max-period", "5", "--out", out,
                       "--plots", tmp_path / "plots")
    assert done.returncode == 1
    assert "ccdphot: error: flat.txt: the magnitude is constant" in done.stderr
    table = Table.read(out)
    assert list(table["Name"]) == [str(good), str(ecsv)]
    assert table.colnames[:5] == ["Name", "Period_1_0", "AOV_HARM_1_0", "AOV_HARM_SNR_1_0",
                                  "AOV_HARM_NEG_LOG_FAP_1_0"]
    assert str(table["Period_1_0"].unit) == "d"
    assert np.allclose(table["Period_1_0"], 0.7, rtol=1e-3)
    plots = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert plots == ["lc.ecsv_folded.png", "lc.ecsv_periodogram.png",
                     "star with spaces.txt_folded.png", "star with spaces.txt_periodogram.png"]
    assert good.read_text().count("\n") == 300  # input untouched


@pytest.mark.requires_vartools
@pytest.mark.parametrize("method", ["ls", "aov", "aov_harm", "fourier", "bls"])
def test_engines_write_the_same_columns(method):
    t, mag = _sinusoid()
    lcs = {"a": _lc("a", t, mag), "b": _lc("b", t, mag[::-1].copy())}
    spec = PeriodSearch(method, min_period=0.2, max_period=5, nfreq=5000)
    tools = ToolRegistry(load_config())
    tables = {engine: search(lcs, spec, engine, tools=tools).table
              for engine in ("vartools", "native")}
    assert tables["vartools"].colnames == tables["native"].colnames
    period = next(c for c in tables["native"].colnames if "Period_1" in c)
    assert np.allclose(tables["vartools"][period], tables["native"][period], rtol=1e-4)


@pytest.mark.requires_vartools
def test_cli_auto_engine_is_vartools_when_installed(tmp_path, ccdphot_cli):
    good, _, _ = _write_lightcurves(tmp_path)
    out = tmp_path / "ls.ecsv"
    done = ccdphot_cli("period", good, "--min-period", "0.2", "--max-period", "5", "--out", out)
    assert done.returncode == 0, done.stderr
    table = Table.read(out)
    assert table.meta["engine"] == "vartools" and table.meta["version"] == "1.51"
    line = done.stdout.splitlines()[0]
    assert line.startswith(f"{good}: best period ") and line.endswith("d (ls, vartools)")
    assert float(line.split()[-4]) == pytest.approx(0.7, rel=2e-3)
