"""Known layouts of catalogue files that the column synonyms cannot read right.

Some catalogue extracts name their columns in a way the generic synonyms of
:func:`ccdphot.catalogs.sources.column_mapping` would misread or miss: the
APASS DR10 extracts (``mag_v``, ``err_mag_v``, positions and their errors in
degrees) and Gaia DR3 synthetic photometry (the GSPC table of the Gaia archive,
``v_jkc_mag`` with flux errors only, and the output of GaiaXPy ``generate``,
``Jkc_mag_V``). A layout is recognised by columns only it has; it gives the
schema mapping, the unit of the position errors and, where the file has only
flux errors, the magnitude errors computed from them (1.0857 flux_error/flux).
``[catalogs.columns]`` still overrides any of its choices.
"""

import logging
import re
from dataclasses import dataclass

import numpy as np
from astropy import units as u
from astropy.table import MaskedColumn

from ccdphot.catalogs.schema import error_name

log = logging.getLogger(__name__)

# 2.5 / ln(10): magnitude error of a relative flux error.
MAG_PER_RELATIVE_FLUX = 2.5 / np.log(10.0)


@dataclass(frozen=True)
class Layout:
    """A catalogue file layout: its name, the schema mapping and the position-error unit."""

    name: str
    title: str
    columns: dict
    error_unit: u.Unit


# APASS DR10 extracts: b, v are Johnson B, V; u, g, r, i, z_s the Sloan bands (u', g', r',
# i', z'); y (APASS's Y band) has no schema band. Position errors are in degrees.
_APASS_DR10_BANDS = {"B": "b", "V": "v", "u": "u", "g": "g", "r": "r", "i": "i", "z": "z_s"}
# Gaia DR3 synthetic photometry: band -> (GSPC band prefix, GaiaXPy band suffix).
_GAIA_XP_BANDS = {"U": ("u_jkc", "U"), "B": ("b_jkc", "B"), "V": ("v_jkc", "V"),
                  "R": ("r_jkc", "R"), "I": ("i_jkc", "I"), "u": ("u_sdss", "u"),
                  "g": ("g_sdss", "g"), "r": ("r_sdss", "r"), "i": ("i_sdss", "i"),
                  "z": ("z_sdss", "z")}
_XPY_SYSTEM = re.compile(r"^(JkcStd|Jkc|SdssStd|Sdss)_mag_")


def detect(colnames):
    """The :class:`Layout` of a file with these columns, or None for a generic file."""
    names = set(colnames)
    if {"mag_v", "err_mag_v", "nobs_v"} <= names or {"mag_i", "err_mag_i", "nobs_i"} <= names:
        return _apass_dr10(names)
    if any(f"{prefix}_mag" in names for prefix, _ in _GAIA_XP_BANDS.values()):
        return _gaia_gspc(names)
    if any(_XPY_SYSTEM.match(name) for name in names):
        return _gaiaxpy(names)
    return None


def _apass_dr10(names):
    columns = {"source_id": "id", "ra": "ra", "dec": "dec", "ra_error": "ra_error",
               "dec_error": "dec_error"}
    for band, code in _APASS_DR10_BANDS.items():
        if f"mag_{code}" in names:
            columns[band] = f"mag_{code}"
            columns[error_name(band)] = f"err_mag_{code}"
    return Layout("apass_dr10", "APASS DR10 extract (AAVSO Photometric All-Sky Survey)",
                  columns, u.deg)


def _gaia_gspc(names):
    columns = {"source_id": "source_id"}
    for band, (prefix, _) in _GAIA_XP_BANDS.items():
        if f"{prefix}_mag" in names:
            columns[band] = f"{prefix}_mag"
            columns[error_name(band)] = f"{prefix}_mag_error"  # made by add_flux_errors
    return Layout("gaia_xp_gspc", "Gaia DR3 synthetic photometry (GSPC)", columns, u.mas)


def _gaiaxpy(names):
    columns = {"source_id": "source_id"}
    for band, (_, suffix) in _GAIA_XP_BANDS.items():
        system = "Sdss" if band.islower() else "Jkc"
        for variant in (f"{system}Std", system):
            if f"{variant}_mag_{suffix}" in names:
                columns[band] = f"{variant}_mag_{suffix}"
                columns[error_name(band)] = f"{variant}_mag_error_{suffix}"
                break
    return Layout("gaia_xp_gaiaxpy", "Gaia DR3 XP synthetic photometry (GaiaXPy generate)",
                  columns, u.mas)


def add_flux_errors(raw, layout):
    """Add the magnitude-error columns a Gaia XP layout computes from flux errors.

    A band without a finite positive flux and flux error gets a masked error.
    """
    for name, mag_error in layout.columns.items():
        if not name.startswith("e_") or mag_error in raw.colnames:
            continue
        flux_name, flux_error_name = _flux_names(mag_error)
        if flux_name not in raw.colnames or flux_error_name not in raw.colnames:
            continue
        flux = np.ma.filled(np.ma.asarray(raw[flux_name], float), np.nan)
        flux_error = np.ma.filled(np.ma.asarray(raw[flux_error_name], float), np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            error = MAG_PER_RELATIVE_FLUX * flux_error / flux
        bad = ~np.isfinite(error) | (flux <= 0) | (error <= 0)
        raw[mag_error] = MaskedColumn(np.where(bad, 0.0, error), mask=bad, unit=u.mag)
    return raw


def _flux_names(mag_error):
    """(flux, flux error) column names behind a derived magnitude-error name."""
    if mag_error.endswith("_mag_error"):  # GSPC: v_jkc_mag_error <- v_jkc_flux(_error)
        base = mag_error[: -len("_mag_error")]
        return f"{base}_flux", f"{base}_flux_error"
    system, suffix = mag_error.split("_mag_error_")  # GaiaXPy: Jkc_mag_error_V
    return f"{system}_flux_{suffix}", f"{system}_flux_error_{suffix}"
