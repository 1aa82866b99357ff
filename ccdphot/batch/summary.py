"""``batch_summary.ecsv``: one row per frame of a batch, read from its run.json only.

The figures come from the products (``run.json``: status, step timings, QC), so
a summary can be remade from RESULTS written earlier or on other machines. A
frame with no usable run.json (it failed before the engine started, or was never
run) keeps its batch status and blank figures. ``batch_summary.png`` is drawn from
the table by :mod:`ccdphot.plots.batch_summary`.
"""

import json
import logging
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.table import MaskedColumn, Table

from ccdphot import __version__
from ccdphot.batch.resume import status_is_ok
from ccdphot.frame.steps import STEP_NAMES
from ccdphot.plots.batch_summary import plot_batch_summary
from ccdphot.products import RUN_JSON, RUN_SCHEMA, write_table_atomic

log = logging.getLogger(__name__)

SUMMARY_NAME = "batch_summary.ecsv"
PLOT_NAME = "batch_summary.png"
TIMED_STEPS = ("input", *STEP_NAMES)
# column -> (run.json qc key, unit)
QC_COLUMNS = {
    "n_sources": ("n_detections", None),
    "jd_utc_mid": ("jd_utc_mid", u.day),
    "seeing_fwhm_pix": ("seeing_fwhm_pix", u.pix),
    "seeing_fwhm_arcsec": ("seeing_fwhm_arcsec", u.arcsec),
    "background_adu": ("background_adu", u.adu),
    "zp_mag": ("zp_mag", u.mag),
    "zp_error_mag": ("zp_error_mag", u.mag),
    "astrometry_rms_ra_arcsec": ("astrometry_rms_ra_arcsec", u.arcsec),
    "astrometry_rms_dec_arcsec": ("astrometry_rms_dec_arcsec", u.arcsec),
}


def read_run_record(folder):
    """The run.json of a results folder, or None when absent, unreadable or of another schema."""
    path = Path(folder) / RUN_JSON
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if record.get("schema") != RUN_SCHEMA:
        log.warning("%s: run.json schema %r, this version reads %d: not summarised", path,
                    record.get("schema"), RUN_SCHEMA)
        return None
    return record


def step_reached(record):
    """The step a frame stopped at (failed, interrupted or still running), else its last step."""
    reached = ""
    for entry in record.get("steps", ()):
        if entry.get("status") in ("failed", "interrupted", "running"):
            return entry["name"]
        if entry.get("status") in ("ok", "skipped"):
            reached = entry["name"]
    return reached


def _row(job, outcome, out_root):
    record = read_run_record(job.out_dir(out_root))
    if record is not None and (record.get("input") != job.input
                               or (outcome is not None and not outcome.resumed
                                   and record.get("status") != outcome.status)):
        record = None  # run.json of an earlier run, not of this one
    status = outcome.status if outcome is not None else "not run (batch stopped)"
    row = {"frame": job.name, "input": job.input, "status": status,
           "batch": ("resumed" if outcome.resumed else "run") if outcome else "not run",
           "worker": outcome.worker if outcome is not None else "",
           "step_reached": step_reached(record) if record else ""}
    qc = record.get("qc", {}) if record else {}
    for column, (key, _) in QC_COLUMNS.items():
        row[column] = qc.get(key)
    seconds = {entry["name"]: entry.get("seconds") for entry in record.get("steps", ())} \
        if record else {}
    for name in TIMED_STEPS:
        row[f"{name}_s"] = seconds.get(name)
    row["total_s"] = record.get("seconds") if record else None
    return row


def _column(name, values, unit=None):
    missing = [v is None or (isinstance(v, float) and not np.isfinite(v)) for v in values]
    if all(isinstance(v, str) for v in values):
        return MaskedColumn(values, name=name)
    integer = name == "n_sources"
    filled = [0 if miss else v for v, miss in zip(values, missing)]
    return MaskedColumn(np.asarray(filled, dtype=int if integer else float), name=name,
                        mask=missing, unit=unit)


def summary_table(jobs, outcomes, out_root):
    """The summary Table: ``jobs`` in batch order, ``outcomes`` by frame name."""
    rows = [_row(job, outcomes.get(job.name), out_root) for job in jobs]
    units = {column: unit for column, (_, unit) in QC_COLUMNS.items()}
    units.update({f"{name}_s": u.s for name in (*TIMED_STEPS, "total")})
    names = list(rows[0]) if rows else []
    table = Table([_column(name, [row[name] for row in rows], units.get(name))
                   for name in names])
    table.meta.update({"CCDPHOT_VERSION": __version__, "N_FRAMES": len(rows),
                       "N_OK": sum(status_is_ok(row["status"]) for row in rows)})
    return table


def write_summary(table, out_root):
    """Write ``batch_summary.ecsv`` into ``out_root`` atomically; return its path."""
    return write_table_atomic(table, Path(out_root) / SUMMARY_NAME, format="ascii.ecsv")


def plot_summary(table, path):
    """``batch_summary.png`` of a summary table: timings per step, seeing, zero point."""
    failed = [not status_is_ok(str(status)) for status in table["status"]]
    return plot_batch_summary(table, path, TIMED_STEPS, failed)
