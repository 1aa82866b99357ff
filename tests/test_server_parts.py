"""The calibration server's parts without a running server: migrations, light-curve
outputs and plot, upload checks, file store, rate limit. (tests/test_server.py runs
the real server.)"""

import io
from pathlib import Path

import numpy as np
import pytest
from alembic import command
from astropy.io import fits
from sqlalchemy import inspect

from ccdphot.errors import InputError
from ccdphot.plots.lightcurve import plot_lightcurve
from ccdphot.server.database import alembic_config, connect, open_database
from ccdphot.server.errors import Invalid, RateLimited, TooLarge
from ccdphot.server.lightcurve import (
    count_points,
    lightcurve_aavso,
    lightcurve_csv,
    lightcurve_json,
    lightcurve_table,
)
from ccdphot.server.models import DONE, FAILED, Observer, Point, Target, Upload
from ccdphot.server.ratelimit import RateLimiter
from ccdphot.server.storage import FrameStore
from ccdphot.server.uploads import UploadForm, check_form, shown_file_name
from ccdphot.server.validation import check_upload

TABLES = {"observers", "targets", "uploads", "points", "alembic_version"}


def test_migrations_make_and_remove_the_schema(tmp_path):
    url = f"sqlite:///{tmp_path / 'db' / 'server.sqlite'}"
    connect(url)
    engine = open_database(url)
    assert set(inspect(engine).get_table_names()) == TABLES
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    connect(url)  # and up again
    assert set(inspect(open_database(url)).get_table_names()) == TABLES


def _point(upload_id, target, bjd, mag, err, band, telescope, limit=False, calibrated=True):
    return Point(upload_id=upload_id, target_id=target.id, calibrated=calibrated,
                 is_upper_limit=limit, mag=mag, mag_err=None if limit else err, band=band,
                 system="Johnson" if band == "V" else "Gaia", bjd_tdb=bjd, jd_utc=bjd - 0.005,
                 exptime_s=10.0, airmass=1.2, filter=band, telescope=telescope, zp_mag=-3.6,
                 zp_err_mag=0.02, zp_scatter_mag=0.03, zp_n_stars=12, zp_outlier_fraction=0.05,
                 zp_quality="good", record={"zp_quality_reasons": []})


@pytest.fixture
def lightcurve_db(tmp_path):
    """Two telescopes (G and V), a limit, a failed job and an uncalibrated frame."""
    sessions = connect(f"sqlite:///{tmp_path / 'server.sqlite'}")
    session = sessions()
    alice = Observer(name="alice", token_sha256="a" * 64, is_admin=False)
    bob = Observer(name="bob", token_sha256="b" * 64, is_admin=False)
    session.add_all([alice, bob])
    session.flush()
    target = Target(name="SN 2024abc", key="sn2024abc", ra_deg=10.0, dec_deg=20.0, public=True,
                    created_by=alice.id)
    session.add(target)
    session.flush()
    rows = [(alice, DONE, 2460001.60, 15.21, 0.03, "G", "SkyCamZ", False, True),
            (alice, DONE, 2460001.40, 15.02, 0.02, "G", "SkyCamZ", False, True),
            (alice, DONE, 2460002.10, 16.80, None, "G", "SkyCamZ", True, True),
            (bob, DONE, 2460001.50, 15.61, 0.05, "V", "Whipple / Cecilia", False, True),
            (bob, DONE, 2460002.30, 15.83, 0.06, "V", "Whipple / Cecilia", False, True),
            (bob, DONE, 2460002.40, None, None, None, "Whipple / Cecilia", False, False),
            (bob, FAILED, 2460002.50, 14.0, 0.01, "V", "Whipple / Cecilia", False, True)]
    for index, (who, status, bjd, mag, err, band, telescope, limit, calibrated) in \
            enumerate(rows):
        upload_id = f"job{index}"
        session.add(Upload(id=upload_id, observer_id=who.id, target_id=target.id,
                           sha256=f"{index:064d}", file_name=f"f{index}.fits", size_bytes=1,
                           status=status, attempts=1))
        session.flush()
        session.add(_point(upload_id, target, bjd, mag, err, band, telescope, limit, calibrated))
    session.commit()
    yield session, target
    session.close()


def test_lightcurve_outputs(lightcurve_db, tmp_path):
    session, target = lightcurve_db
    table = lightcurve_table(session, target)
    assert len(table) == count_points(session, target) == 5  # no failed, no uncalibrated
    assert list(table["BJD_TDB"]) == sorted(table["BJD_TDB"])
    assert str(table["MAG_CAL"].unit) == "mag" and str(table["BJD_TDB"].unit) == "d"
    assert list(table["OBSERVER"]) == ["alice", "bob", "alice", "alice", "bob"]
    data = lightcurve_json(table)
    assert data["n_points"] == 5 and data["target"]["name"] == "SN 2024abc"
    limit = next(p for p in data["points"] if p["IS_UPPER_LIMIT"])
    assert limit["MAG_CAL"] == 16.8 and limit["MAGERR_CAL"] is None
    assert lightcurve_csv(table).splitlines()[0].split(",")[:4] == \
        ["BJD_TDB", "JD_UTC", "MAG_CAL", "MAGERR_CAL"]
    lines = lightcurve_aavso(table, "ABC").splitlines()
    assert lines[:2] == ["#TYPE=EXTENDED", "#OBSCODE=ABC"]
    observations = [line.split(",") for line in lines if not line.startswith("#")]
    assert len(observations) == 5 and all(len(fields) == 15 for fields in observations)
    assert observations[0][:5] == ["SN 2024abc", "2460001.39500", "15.020", "0.020", "G"]
    assert observations[1][4] == "V"
    assert observations[3][2:4] == ["<16.800", "na"]
    png = plot_lightcurve(table, "SN 2024abc")
    assert png.startswith(b"\x89PNG")
    (tmp_path / "lightcurve.png").write_bytes(png)


def test_empty_lightcurve_plot(lightcurve_db):
    session, target = lightcurve_db
    table = lightcurve_table(session, target)[:0]
    assert plot_lightcurve(table, "nothing").startswith(b"\x89PNG")
    assert lightcurve_aavso(table).count("\n") == 8  # the header lines only


def test_rate_limit_slides():
    now = [0.0]
    limiter = RateLimiter(3, clock=lambda: now[0])
    for t in (0.0, 10.0, 20.0):
        now[0] = t
        limiter.check("alice")
    limiter.check("bob")
    with pytest.raises(RateLimited) as caught:
        limiter.check("alice")
    assert caught.value.retry_after_s == 40
    now[0] = 60.5  # the first one has left the window
    limiter.check("alice")


def test_check_upload_names_the_upload_not_the_path(tmp_path, shared_data):
    frame = shared_data / "skycamz" / "z_e_20130610_210_1_1_1.fits"
    summary = check_upload(frame, "mine.fits", 10_000_000)
    assert summary["shape_pix"] == [1024, 1024] and summary["INSTRUME"] == "SkyCamZ"
    assert summary["header_wcs"] is True
    with pytest.raises(InputError, match="mine.fits: HDU 0 declares an image of 1024 x 1024"):
        check_upload(frame, "mine.fits", 1_000_000)
    truncated = tmp_path / "cut.fits"
    truncated.write_bytes(frame.read_bytes()[:100_000])
    with pytest.raises(InputError, match="upload is truncated") as caught:
        check_upload(truncated, "cut.fits", 10_000_000)
    assert str(tmp_path) not in str(caught.value)
    cube = tmp_path / "cube.fits"
    fits.PrimaryHDU(np.ones((3, 8, 8), np.float32)).writeto(cube)
    with pytest.raises(InputError, match="cube.fits: a 3-D data cube"):
        check_upload(cube, "cube.fits", 10_000_000)


@pytest.mark.parametrize("sent, shown", [
    ("../../etc/passwd", "passwd"), ("C:\\Users\\me\\frame 1.fits", "frame_1.fits"),
    ("a;b $(rm -rf ~).fits", "a_b___rm_-rf___.fits"), ("...", "frame.fits"), (None, "frame.fits"),
])
def test_file_names_are_only_shown(sent, shown):
    assert shown_file_name(sent) == shown


@pytest.mark.parametrize("fields, words", [
    (dict(target=""), "give a name"), (dict(target="a/b"), "give a name"),
    (dict(target="x", ra="1"), "both ra and dec"),
    (dict(target="x", ra="1", dec="north"), "target position"),
    (dict(target="x", profile="/etc/passwd"), "telescope profiles"),
    (dict(target="x", filter="V\nX"), "filter"),
])
def test_form_checks(fields, words):
    with pytest.raises(Invalid, match=words):
        check_form(UploadForm(**fields))


def test_form_accepts_sexagesimal_and_profile_names():
    name, coord, profile, forced = check_form(UploadForm(
        target="  HAT-P-32   b ", ra="02:04:10.28", dec="+46:41:16.2",
        profile="microobservatory", filter="Clear"))
    assert name == "HAT-P-32 b" and profile == "MicroObservatory" and forced == "Clear"
    assert coord.ra.deg == pytest.approx(31.042833, abs=1e-6)


def test_store_keeps_frames_by_checksum(tmp_path):
    store = FrameStore(tmp_path / "data")
    first = store.receive(io.BytesIO(b"x" * 5000), max_bytes=10_000)
    path = store.keep(first)
    assert path == store.frames / f"{first.sha256}.fits" and path.read_bytes() == b"x" * 5000
    again = store.receive(io.BytesIO(b"x" * 5000), max_bytes=10_000)
    assert store.keep(again) == path and not again.path.exists()
    with pytest.raises(TooLarge):
        store.receive(io.BytesIO(b"y" * 20_000), max_bytes=10_000)
    assert list(store.incoming.iterdir()) == []
    assert sorted(p.name for p in store.frames.iterdir()) == [path.name]
    assert Path(path).stat().st_mode & 0o222 == 0  # kept read-only
