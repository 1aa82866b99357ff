"""Synthetic per-frame products with known truth, for tests and the speed benchmark.

A star field observed in many frames: the field drifts (and may rotate) on the
chip, a common transparency change dims every star, each star gets the noise
its magnitude predicts, a few stars vary (sinusoids) and one may show a
transit. The products are written with the same writers and the same schema-1
meta as ``ccdphot run``, so everything downstream reads them as real RESULTS.
"""

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.table import MaskedColumn, Table

from ccdphot import __version__
from ccdphot.series.transit import transit_mag
from ccdphot.products import PHOTOMETRY_ECSV, PHOTOMETRY_SCHEMA, write_run_json, write_table_atomic

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Field:
    """The truth: star positions (reference pixels), magnitudes, variables, transit."""

    x: np.ndarray
    y: np.ndarray
    mag: np.ndarray
    variable: np.ndarray          # indices of sinusoidal variables
    amplitude_mag: np.ndarray
    period_days: np.ndarray
    target: int = 0
    t0: float = np.nan            # transit mid-time (BJD_TDB) of the target
    depth: float = 0.0            # fractional flux
    duration_days: float = 0.0


def make_field(n_stars, rng, size=1000.0, n_variables=5, depth=0.0, t0=np.nan,
               duration_days=0.0):
    """A random field; star 0 (mag 13) is the target, the variables are among the rest."""
    x = rng.uniform(20, size - 20, n_stars)
    y = rng.uniform(20, size - 20, n_stars)
    mag = 12.0 + 7.0 * rng.power(2.5, n_stars)
    mag[0] = 13.0
    variable = rng.choice(np.arange(1, n_stars), size=min(n_variables, n_stars - 1), replace=False)
    return Field(x, y, mag, variable, rng.uniform(0.05, 0.3, len(variable)),
                 rng.uniform(0.05, 0.5, len(variable)), 0, t0, depth, duration_days)


def noise_mag(mag):
    """Photometric error of a star (photon + sky noise + a 2 mmag floor)."""
    return np.sqrt(0.002 ** 2 + (0.01 * 10 ** (0.4 * (mag - 17.0))) ** 2
                   + (0.003 * 10 ** (0.2 * (mag - 15.0))) ** 2)


def true_magnitudes(field, time):
    """(frames x stars) magnitudes without noise or transparency."""
    mag = np.repeat(field.mag[None, :], len(time), axis=0)
    phase = 2 * np.pi * (time[:, None] - time[0]) / field.period_days[None, :]
    mag[:, field.variable] += field.amplitude_mag[None, :] * np.sin(phase)
    if field.depth > 0:
        mag[:, field.target] += transit_mag(time, field.t0, field.depth, field.duration_days, 0.15)
    return mag


def _meta(name, time, airmass, seeing, sky, size, wcs, telescope, filter_name):
    return {"CCDPHOT_SCHEMA": PHOTOMETRY_SCHEMA, "CCDPHOT_VERSION": __version__, "FRAME": name,
            "JD_UTC_MID": float(time - 0.0008), "BJD_TDB_MID": float(time),
            "DATE_OBS_UTC": "synthetic", "EXPTIME_S": 60.0, "FILTER": filter_name,
            "AIRMASS": float(airmass), "OBJECT": "SYNTH-1", "TELESCOP": telescope,
            "SEEING_FWHM_PIX": float(seeing), "BACKGROUND_ADU": float(sky),
            "NAXIS1": int(size), "NAXIS2": int(size), "HAS_WCS": bool(wcs),
            "RA_DEG": 150.0, "DEC_DEG": 20.0, "SATURATE_ADU": 60000.0}


def write_products(out, field, time, rng, drift_pix=(0.3, 0.1), rotation_deg=0.0, wcs=False,
                   telescope="SYNTH", filter_name="V", zero_point=None, size=1000.0,
                   transparency_mag=0.05, prefix="frame"):
    """Write ``RESULTS/<frame>/`` products for every time; return the frame names.

    The field moves by ``drift_pix`` per frame (and rotates by ``rotation_deg``
    over the series); stars off the chip are not detected. With ``wcs`` sky
    positions are filled (a tangent plane at 1 arcsec/pixel); with
    ``zero_point`` (mag) the instrumental magnitudes are the true ones minus
    it, and MAG_CAL the true ones plus noise (what a zeropoint step would give).
    """
    out = Path(out)
    n = len(time)
    truth = true_magnitudes(field, time)
    airmass = 1.0 + 0.5 * np.linspace(0, 1, n) ** 2
    transparency = transparency_mag * np.sin(np.linspace(0, 3, n)) + 0.1 * (airmass - 1)
    names = []
    for i, t in enumerate(time):
        angle = np.radians(rotation_deg * i / max(n - 1, 1))
        cx, cy = size / 2, size / 2
        dx, dy = field.x - cx, field.y - cy
        x = cx + np.cos(angle) * dx - np.sin(angle) * dy + drift_pix[0] * i
        y = cy + np.sin(angle) * dx + np.cos(angle) * dy + drift_pix[1] * i
        seen = (x > 1) & (x < size) & (y > 1) & (y < size)
        error = noise_mag(field.mag[seen])
        observed = truth[i, seen] + transparency[i] + rng.normal(0, error)
        instrumental = observed - (zero_point or 0.0)
        rows = int(seen.sum())
        table = Table()
        table["NUMBER"] = np.arange(1, rows + 1, dtype="i4")
        ra = 150.0 + (field.x[seen] - cx) / 3600.0 / np.cos(np.radians(20.0))
        dec = 20.0 + (field.y[seen] - cy) / 3600.0
        for column, values in (("ALPHA_J2000", ra), ("DELTA_J2000", dec)):
            table[column] = MaskedColumn(values, mask=np.full(rows, not wcs), unit="deg")
        jitter = rng.normal(0, 0.05, (2, rows))
        table["MAG_APER"] = instrumental
        table["MAGERR_APER"] = error
        table["MAG_AUTO"] = instrumental + rng.normal(0, 0.01, rows)
        table["MAGERR_AUTO"] = error
        table["X_IMAGE"] = x[seen] + jitter[0]
        table["Y_IMAGE"] = y[seen] + jitter[1]
        table["FWHM_IMAGE"] = np.full(rows, 3.0)
        table["FLAGS"] = np.zeros(rows, dtype="i4")
        if zero_point is not None:
            table["MAG_CAL"] = observed - transparency[i]
            table["MAGERR_CAL"] = error
        name = f"{prefix}{i:04d}"
        directory = out / name
        directory.mkdir(parents=True, exist_ok=True)
        table.meta.update(_meta(name, t, airmass[i], 3.0 + 0.3 * np.sin(i / 7.0), 300.0 + i,
                                size, wcs, telescope, filter_name))
        write_table_atomic(table, directory / PHOTOMETRY_ECSV, format="ascii.ecsv")
        write_run_json(directory, {"frame": name, "status": "ok"})
        names.append(name)
    return names
