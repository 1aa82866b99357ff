"""Per-frame QC figures: drawn by the write step, switchable, every panel drawable."""

import json

import numpy as np
import pytest
from astropy.table import Table

from ccdphot.config import load_config
from ccdphot.daophot.daophot2_files import read_daophot_als, read_daophot_ap
from ccdphot.frame.pipeline import run_frame
from ccdphot.plots.frame_qc import QC_IMAGE, QC_PHOTOMETRY, plot_photometry_qc


@pytest.mark.requires_sextractor
def test_write_step_draws_the_qc_figures(ngc6871_fits, tmp_path):
    done = run_frame(ngc6871_fits, load_config(), steps=["header", "detect"], out=tmp_path)
    for name in (QC_IMAGE, QC_PHOTOMETRY):
        assert (done.out_dir / name).stat().st_size > 10000
    record = json.loads((done.out_dir / "run.json").read_text())
    write = next(step for step in record["steps"] if step["name"] == "write")
    assert 0 < write["figures"]["qc_plots_seconds"] <= write["seconds"]
    assert record["details"]["qc_plots"]["files"] == [QC_IMAGE, QC_PHOTOMETRY]


@pytest.mark.requires_sextractor
def test_qc_figures_can_be_switched_off(ngc6871_fits, tmp_path):
    config = load_config(data={"plots": {"qc": False}})
    done = run_frame(ngc6871_fits, config, steps=["header", "detect"], out=tmp_path)
    assert not (done.out_dir / QC_IMAGE).exists() and not (done.out_dir / QC_PHOTOMETRY).exists()
    assert "qc_plots_seconds" not in done.record["steps"][-1]["figures"]


def test_every_photometry_panel(ngc6871_dir, tmp_path):
    """The legacy DAOPHOT II reduction of NGC 6871 as a unified table (real magnitudes),
    with a small residual table for the astrometry panel."""
    als = read_daophot_als(ngc6871_dir / "NGC6871.als")
    ap = read_daophot_ap(ngc6871_dir / "NGC6871.ap")
    row = {int(i): k for k, i in enumerate(ap["ID"])}
    rows = [row[int(i)] for i in als["ID"]]
    table = Table({"X_IMAGE": als["X"], "Y_IMAGE": als["Y"], "MAG_PSF": als["MAG"],
                   "MAGERR_PSF": als["MERR"], "MAG_APER": ap["MAG"][rows],
                   "MAGERR_APER": ap["MERR"][rows]}, masked=True)
    rng = np.random.default_rng(5)
    astrometry = Table({"X_IMAGE": rng.uniform(1, 1250, 30), "Y_IMAGE": rng.uniform(1, 1150, 30),
                        "DRA_ARCSEC": rng.normal(0, 0.1, 30),
                        "DDEC_ARCSEC": rng.normal(0, 0.1, 30)})
    path = plot_photometry_qc(table, tmp_path / QC_PHOTOMETRY, "NGC6871 (legacy DAOPHOT II)",
                              (1150, 1250), astrometry=astrometry)
    assert path.stat().st_size > 30000
