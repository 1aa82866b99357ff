"""``ccdphot batch``: inputs, results-folder names, resuming, and bad input.

The batch on a real scheduler and workers (and a worker killed mid-batch) is in
test_batch_cluster.py. Here: what needs no cluster, plus one LocalCluster run
that must stop cleanly on a full disk without losing earlier results.
"""

import json
import shutil
import socket
import subprocess
import sys
from contextlib import contextmanager

import pytest

from ccdphot.batch import run_batch
from ccdphot.batch.inputs import collect_frames, name_jobs
from ccdphot.batch.resume import RunFingerprint, done_record
from ccdphot.config import load_config
from ccdphot.errors import InputError, OutputError
from ccdphot.frame.pipeline import plan_steps, run_frame
from ccdphot.products import RUN_JSON, read_frame_products


def _batch(*args, timeout=120):
    return subprocess.run([sys.executable, "-P", "-m", "ccdphot", "batch", *map(str, args)],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          timeout=timeout, check=False)


@contextmanager
def _tmpfs(path, options):
    """A small tmpfs at ``path`` (root only: skipped elsewhere)."""
    path.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_directories_give_their_fits_files_and_report_the_others(tmp_path):
    night = tmp_path / "night"
    (night / "calib").mkdir(parents=True)
    for name in ("b.fits", "a.FIT", "c.fits.fz", "notes.txt", ".hidden.fits", "calib/bias.fits"):
        (night / name).write_bytes(b"")
    frames, skipped = collect_frames([night, night / "b.fits"])
    assert [f.name for f in frames] == ["a.FIT", "b.fits", "c.fits.fz"]
    assert [s.name for s in skipped] == ["notes.txt"]
    with pytest.raises(InputError, match=r"nope.d: no such file or directory"):
        collect_frames([night / "nope.d"])
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "log.txt").write_text("x")
    with pytest.raises(InputError, match=r"no FITS frames in .*texts \(1 other files skipped\)"):
        collect_frames([tmp_path / "texts"])


def test_same_file_names_get_distinct_folders_and_keep_them(tmp_path):
    out = tmp_path / "RESULTS"
    first = [tmp_path / "a" / "x.fits", tmp_path / "b" / "x.fits", tmp_path / "c" / "y.fits"]
    names = [job.name for job in name_jobs(first, out)]
    assert names[0].startswith("x-") and names[1].startswith("x-") and names[0] != names[1]
    assert names[2] == "y"
    # y/ already holds another input's results: this y is not written over them
    (out / "y").mkdir(parents=True)
    (out / "y" / RUN_JSON).write_text(json.dumps({"input": str(tmp_path / "d" / "y.fits")}))
    assert name_jobs([first[2]], out)[0].name.startswith("y-")
    # a folder holding this input's results is found again, alone or not
    (out / names[0]).mkdir()
    (out / names[0] / RUN_JSON).write_text(json.dumps({"input": str(first[0])}))
    assert name_jobs([first[0]], out)[0].name == names[0]


def test_a_frame_is_done_only_for_the_same_run(tmp_path, ngc6871_fits):
    config = load_config()
    out = tmp_path / "RESULTS"
    run_frame(ngc6871_fits, config, steps=["header"], out=out)
    job = name_jobs([ngc6871_fits.resolve()], out)[0]
    same = RunFingerprint.of(config, plan_steps(("header",), ()), {})
    assert done_record(job, out, same)["status"] == "ok"
    other_config = load_config(overrides=[{"detect": {"detect_thresh_sigma": 3.0}}])
    other_steps = plan_steps(("header", "detect"), ())
    for fingerprint in (RunFingerprint.of(other_config, plan_steps(("header",), ()), {}),
                        RunFingerprint.of(config, other_steps, {}),
                        RunFingerprint.of(config, plan_steps(("header",), ()),
                                          {"profile": "x"})):
        assert done_record(job, out, fingerprint) is None
    record_path = out / job.name / RUN_JSON
    record = json.loads(record_path.read_text())
    record_path.write_text(json.dumps({**record, "status": "interrupted at header: "
                                                           "KeyboardInterrupt"}))
    assert done_record(job, out, same) is None


def test_unreachable_scheduler_is_one_clear_line(tmp_path, ngc6871_fits):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    done = _batch(ngc6871_fits, "--scheduler", f"tcp://127.0.0.1:{port}", "--connect-timeout",
                  "2", "--out", tmp_path / "R")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"ccdphot: error: cannot reach the Dask scheduler at tcp://127.0.0.1:{port} "
        f"(Connection refused); start it with `dask scheduler` and workers with `dask "
        f"worker tcp://127.0.0.1:{port}`, or leave out --scheduler to use this machine")
    bad = _batch(ngc6871_fits, "--scheduler", "nonsense", "--out", tmp_path / "R")
    assert bad.returncode == 2 and "not a scheduler address" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_unwritable_results_root_is_one_clear_line(tmp_path, ngc6871_fits):
    (tmp_path / "file").write_text("x")
    done = _batch(ngc6871_fits, "--out", tmp_path / "file" / "R")
    assert done.returncode == 2
    assert done.stderr.startswith(f"ccdphot: error: cannot write results to {tmp_path}/file/R")
    with _tmpfs(tmp_path / "ro", "ro,size=1m") as read_only:
        done = _batch(ngc6871_fits, "--out", read_only / "R")
    assert done.returncode == 2
    assert done.stderr.strip() == (f"ccdphot: error: cannot write results to {read_only}/R "
                                   "(Read-only file system); choose a writable directory "
                                   "with --out")


@pytest.mark.requires_sextractor
def test_full_disk_stops_the_batch_and_keeps_earlier_results(tmp_path, ngc6871_fits,
                                                             shared_data):
    hatp32 = sorted((shared_data / "hatp32" / "frames").glob("*.FITS"))[0]
    big = tmp_path / "in" / "NGC6871.fits"  # its 5.8 MB working copy cannot fit
    big.parent.mkdir()
    shutil.copy(ngc6871_fits, big)
    with _tmpfs(tmp_path / "small", "size=4m") as disk:
        earlier = run_frame(hatp32, load_config(), steps=["header", "detect"], out=disk)
        with pytest.raises(OutputError, match=r"cannot write results to .*small \(no space "
                                              r"left\); the frames done are kept"):
            run_batch([big], steps=["header"], out=disk, workers=1)
        table, record = read_frame_products(earlier.out_dir)
        assert record["status"] == "ok" and len(table) == len(earlier.table) > 100
