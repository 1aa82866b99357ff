"""``ccdphot batch`` on a real Dask cluster: a scheduler and workers started as
processes on the loopback address, as an operator would start them on machines
sharing a file system; then one worker killed mid-batch.

Cheap steps (header, detect) on copies of the NGC 6871 and SkyCamZ frames keep
the module to well under a minute; every wait has a timeout.
"""

import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from astropy.table import Table

from ccdphot.products import read_frame_products

pytestmark = pytest.mark.requires_sextractor

STEPS = "header,detect"
KEY_PREFIX = "ccdphot-frame-"  # the batch's task keys: ccdphot-frame-<frame>-<8 hex>
TIMEOUT_S = 180


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A `dask scheduler` and two `dask worker` processes (one thread each) on 127.0.0.1."""
    from distributed import Client

    run_dir = tmp_path_factory.mktemp("dask")
    address = f"tcp://127.0.0.1:{_free_port()}"
    processes = []

    def start(*args):
        log = open(run_dir / f"process-{len(processes)}.log", "w")
        process = subprocess.Popen([sys.executable, "-m", "dask", *args], cwd=run_dir,
                                   stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        processes.append(process)
        return process

    def worker(name, *extra):
        return start("worker", address, "--nthreads", "1", "--host", "127.0.0.1",
                     "--no-dashboard", "--name", name, *extra)

    start("scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
          "--no-dashboard")
    worker("w0")
    worker("w1")
    client = Client(address, timeout="60s", set_as_default=False)
    try:
        client.wait_for_workers(2, timeout=60)
        yield SimpleNamespace(address=address, client=client, worker=worker)
    finally:
        client.close()
        for process in reversed(processes):
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def _batch_argv(*args):
    return [sys.executable, "-P", "-m", "ccdphot", "batch", *map(str, args)]


def _batch(*args):
    return subprocess.run(_batch_argv(*args), capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=TIMEOUT_S, check=False)


def _copy(source, dest_dir):
    dest_dir.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(source, dest_dir))


@pytest.fixture(scope="module")
def first_batch(cluster, tmp_path_factory, ngc6871_fits, shared_data):
    """Two NGC6871.fits from two directories, two SkyCamZ frames, a text file, a broken FITS."""
    root = tmp_path_factory.mktemp("batch")
    night = root / "night"
    _copy(ngc6871_fits, night / "a")
    _copy(ngc6871_fits, night / "b")
    for frame in sorted((shared_data / "skycamz").glob("*.fits"))[:2]:
        _copy(frame, night / "a")
    (night / "a" / "observing notes.txt").write_text("clouds after 23h\n")
    (night / "a" / "broken.fits").write_text("not a FITS file\n")
    out = root / "RESULTS"
    done = _batch(night / "a", night / "b", "--scheduler", cluster.address, "--steps", STEPS,
                  "--out", out)
    return SimpleNamespace(out=out, night=night, done=done)


def test_batch_on_a_scheduler_writes_every_frame(first_batch, cluster):
    done, out = first_batch.done, first_batch.out
    assert done.returncode == 1, done.stderr  # the broken frame failed, the others did not
    assert "skipped" in done.stderr and "observing notes.txt" in done.stderr
    summary = Table.read(out / "batch_summary.ecsv", format="ascii.ecsv")
    assert len(summary) == 5
    by_status = {row["frame"]: row["status"] for row in summary}
    assert by_status["broken"].startswith("failed at input: ")
    ok = [row for row in summary if row["status"] == "ok"]
    assert len(ok) == 4
    # the two NGC6871.fits get distinct folders, named after their path
    twins = sorted(row["frame"] for row in ok if row["frame"].startswith("NGC6871-"))
    assert len(twins) == 2 and twins[0] != twins[1]
    inputs = set()
    for row in ok:
        table, record = read_frame_products(out / row["frame"])
        assert record["frame"] == row["frame"] and record["config_sha256"]
        assert len(table) == row["n_sources"] > 100
        assert row["detect_s"] > 0 and row["seeing_fwhm_pix"] > 0
        assert row["step_reached"] == "write"
        inputs.add(record["input"])
    assert len(inputs) == 4
    workers = set(cluster.client.scheduler_info()["workers"])
    assert {row["worker"] for row in ok} <= workers
    assert (out / "batch_summary.png").stat().st_size > 10_000


def test_rerun_resumes_and_redoes_only_what_failed(first_batch, cluster):
    again = _batch(first_batch.night / "a", first_batch.night / "b", "--scheduler",
                   cluster.address, "--steps", STEPS, "--out", first_batch.out)
    assert again.returncode == 1
    lines = [line for line in again.stdout.splitlines() if line.startswith("[")]
    assert sum("already done: ok" in line for line in lines) == 4
    assert [line for line in lines if "already done" not in line][0].split()[1] == "broken:"
    summary = Table.read(first_batch.out / "batch_summary.ecsv", format="ascii.ecsv")
    assert sorted(summary["batch"]) == ["resumed"] * 4 + ["run"]


def test_killed_worker_frames_are_redone_by_the_others(cluster, tmp_path, ngc6871_fits,
                                                       shared_data):
    for frame in sorted((shared_data / "skycamz").glob("*.fits"))[:3]:
        _copy(frame, tmp_path / "in")
    _copy(ngc6871_fits, tmp_path / "in")
    victim = cluster.worker("victim", "--no-nanny")
    cluster.client.wait_for_workers(3, timeout=60)
    victim_address = next(address for address, info
                          in cluster.client.scheduler_info()["workers"].items()
                          if info.get("name") == "victim")
    out = tmp_path / "RESULTS"
    batch = subprocess.Popen(_batch_argv(tmp_path / "in", "--scheduler", cluster.address,
                                         "--steps", STEPS, "--out", out),
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        lost = []
        while not lost and time.monotonic() < deadline and batch.poll() is None:
            lost = [key for key in cluster.client.processing().get(victim_address, ())
                    if str(key).startswith(KEY_PREFIX)]
            time.sleep(0.1)
        assert lost, "the victim worker never got a frame"
        victim.kill()
        victim.wait(timeout=30)
        stdout, stderr = batch.communicate(timeout=TIMEOUT_S)
    finally:
        if batch.poll() is None:
            batch.kill()
    assert batch.returncode == 0, stdout + stderr
    summary = Table.read(out / "batch_summary.ecsv", format="ascii.ecsv")
    assert len(summary) == 4 and set(summary["status"]) == {"ok"}
    rows = {row["frame"]: row for row in summary}
    for key in lost:
        frame = str(key)[len(KEY_PREFIX):-9]
        assert rows[frame]["worker"] not in ("", victim_address)
        assert read_frame_products(out / frame)[1]["status"] == "ok"
