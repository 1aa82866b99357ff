"""The persistent PyRAF session (wrappers/session.py, pyraf_worker --serve) and Ctrl-C.

Real PyRAF throughout: the NGC 6871 frame through aperture+psf with and without a
session (same outputs), jobs of two frames in one session (no IRAF state carried
over, a work directory with spaces), a session killed mid-job (restarted, the job
sent again; killed twice: the job fails with the reason), a timeout, and SIGINT
to a real ``ccdphot run`` while a tool runs (interrupted, exit 130, no process left).
"""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import psutil
import pytest
from astropy.io import fits
from ccdphot.wrappers import daophot
from ccdphot.wrappers.pyraf import run_iraf

from ccdphot.config import load_config
from ccdphot.daophot.psets import merge_psets
from ccdphot.errors import ToolError, ToolTimeoutError
from ccdphot.frame.pipeline import run_frame
from ccdphot.tools import ToolRegistry

STEPS = ["header", "detect", "aperture", "psf"]
# IRAF outputs of the aperture and psf steps (text tables, PSF models, subtracted frames)
IRAF_OUTPUTS = ("*.mag", "*.pst", "*.psg", "*.nst", "*.nrj", "*.als", "*.arj", "psf_*.fits",
                "cleaned_*.fits", "residual.fits")
# what differs between two runs of the same task: the clock
_CLOCK_LINE = re.compile(rb"^#K (DATE|TIME) .*$", re.MULTILINE)
_CLOCK_CARDS = ("DATE", "TIME", "IRAF-TLM")

pytestmark = pytest.mark.requires_iraf


def _iraf_tool(sessions):
    registry = ToolRegistry(load_config(), sessions=sessions)
    return registry, registry.use("iraf")


def _same_output(a, b):
    """Byte-identical but for the clock (text: #K DATE/TIME; FITS: DATE, TIME, IRAF-TLM)."""
    if a.suffix != ".fits":
        return _CLOCK_LINE.sub(b"", a.read_bytes()) == _CLOCK_LINE.sub(b"", b.read_bytes())
    with fits.open(a) as ha, fits.open(b) as hb:
        for x, y in zip(ha, hb, strict=True):
            for key in _CLOCK_CARDS:
                x.header.remove(key, ignore_missing=True, remove_all=True)
                y.header.remove(key, ignore_missing=True, remove_all=True)
            if x.header.tostring() != y.header.tostring() or \
                    (x.data is not None and x.data.tobytes() != y.data.tobytes()):
                return False
    return True


@pytest.mark.requires_sextractor
def test_session_gives_the_same_outputs_as_one_shot_jobs(tmp_path, ngc6871_fits):
    """All IRAF jobs of the frame in one session, started once: outputs as one-shot jobs."""
    config = load_config()
    one_shot = run_frame(ngc6871_fits, load_config(data={"tools": {"iraf": {
        "persistent": False}}}), steps=STEPS, out=tmp_path / "one_shot")
    with ToolRegistry(config, sessions=True) as tools:
        session = run_frame(ngc6871_fits, config, steps=STEPS, out=tmp_path / "session",
                            tools=tools)
        assert len(tools.resolve("iraf").session.pids) == 1  # alive until the owner closes
    assert one_shot.ok and session.ok
    log = (session.out_dir / "ccdphot.log").read_text()
    jobs = re.findall(r"pyraf_worker (\S+)\.json .*persistent session", log)
    assert len(jobs) >= 3 and log.count("persistent session started") == 1
    assert "persistent session" not in (one_shot.out_dir / "ccdphot.log").read_text()
    compared = 0
    for pattern in IRAF_OUTPUTS:
        for path in sorted((one_shot.out_dir / "work").glob(pattern)):
            assert _same_output(path, session.out_dir / "work" / path.name), path.name
            compared += 1
    assert compared >= 15
    assert np.array_equal(one_shot.table["MAG_PSF"], session.table["MAG_PSF"])


def _star_frame(directory):
    """A 41x41 frame with one Gaussian star at (21, 21) and its coordinate list."""
    y, x = np.mgrid[1:42, 1:42]
    image = 100.0 + 5000.0 * np.exp(-((x - 21.0) ** 2 + (y - 21.0) ** 2) / (2 * 1.5 ** 2))
    fits.writeto(directory / "star.fits", image.astype(np.float32))
    (directory / "star.xy").write_text("21.0 21.0\n")


def _phot_fwhmpsf(path):
    return float(re.search(r"^#K FWHMPSF\s+=\s+(\S+)", path.read_text(), re.MULTILINE)[1])


def test_jobs_of_two_frames_share_no_iraf_state(tmp_path):
    """Frame 1 sets datapars.fwhmpsf; frame 2 (in a directory with spaces) runs PHOT
    without setting it and gets IRAF's default, in the same session process."""
    registry, tool = _iraf_tool(sessions=True)
    first, second = tmp_path / "frame1", tmp_path / "frame 2 (b)"
    with registry:
        for directory in (first, second):
            directory.mkdir()
            _star_frame(directory)
        phot = daophot.phot_call("star.fits", "star.xy", "star.mag")
        daophot.Job(tool, first, name="aperture", calls=(phot,), expect=("star.mag",),
                    psets=merge_psets({"datapars": {"fwhmpsf": 7.5}})).run()
        pid = tool.session.pids
        run_iraf(tool, [phot], second, "aperture", expect=("star.mag",))
        assert tool.session.pids == pid
    assert _phot_fwhmpsf(first / "star.mag") == 7.5
    assert _phot_fwhmpsf(second / "star.mag") == 2.5  # IRAF's default
    for directory in (first, second):  # each job's own uparm, in its own work directory
        assert (directory / ".iraf" / "aperture" / "uparm").is_dir()
        assert not any(path.is_symlink() for path in directory.iterdir())


def _kill_sessions(pool, count, killed):
    """Kill the next ``count`` session processes of ``pool`` (not in ``killed``) as soon as
    they start."""
    deadline, goal = time.monotonic() + 60, len(killed) + count
    while len(killed) < goal and time.monotonic() < deadline:
        for pid in pool.pids:
            if pid not in killed:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
        time.sleep(0.01)


def _killing(tool, count, killed):
    thread = threading.Thread(target=_kill_sessions, args=(tool.session, count, killed))
    thread.start()
    return thread


def test_a_session_killed_mid_job_is_restarted_and_the_job_sent_again(tmp_path, caplog):
    _star_frame(tmp_path)
    registry, tool = _iraf_tool(sessions=True)
    phot = daophot.phot_call("star.fits", "star.xy", "star.mag")
    with registry:
        killed = []
        thread = _killing(tool, 1, killed)
        run_iraf(tool, [phot], tmp_path, "once", expect=("star.mag",))
        thread.join()
        assert len(killed) == 1 and len(tool.session.pids) == 1
        assert tool.session.pids[0] not in killed
        assert "(killed by signal 9); starting a new session" in caplog.text
        # the idle session dies, then its successor mid-job: the job fails with the reason
        os.kill(tool.session.pids[0], signal.SIGKILL)
        killed.append(tool.session.pids[0])
        thread = _killing(tool, 1, killed)
        with pytest.raises(ToolError, match=r"killed by signal 9.*two persistent sessions"):
            run_iraf(tool, [phot], tmp_path, "twice", expect=("star.mag",))
        thread.join()
    assert _phot_fwhmpsf(tmp_path / "star.mag") == 2.5


def test_a_job_past_its_timeout_kills_the_session_and_the_next_job_gets_a_new_one(tmp_path):
    _star_frame(tmp_path)
    registry, tool = _iraf_tool(sessions=True)
    phot = daophot.phot_call("star.fits", "star.xy", "star.mag")
    with registry:
        with pytest.raises(ToolTimeoutError, match="did not finish within 0.05 s"):
            run_iraf(tool, [phot], tmp_path, "slow", timeout_s=0.05)  # PyRAF starts slower
        assert tool.session.pids == []
        run_iraf(tool, [phot], tmp_path, "next", expect=("star.mag",))
        assert len(tool.session.pids) == 1


def _default_sigint():
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _descendants(pid):
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


@pytest.mark.requires_sextractor
@pytest.mark.parametrize("persistent", [True, False], ids=["session", "one-shot"])
def test_ctrl_c_in_ccdphot_run_records_the_step_as_interrupted(tmp_path, ngc6871_fits,
                                                               persistent):
    """Ctrl-C (SIGINT to the terminal's process group) while PyRAF runs: the frame is
    'interrupted at <step>', the exit code 130, and no tool process is left behind."""
    out = tmp_path / "out"
    command = [sys.executable, "-m", "ccdphot", "run", str(ngc6871_fits), "--out", str(out),
               "--steps", ",".join(STEPS), "-o", f"tools.iraf.persistent={str(persistent).lower()}"]
    # SIGINT as on a terminal even when the tests run in the background (which ignores it)
    process = subprocess.Popen(command, cwd=tmp_path, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               start_new_session=True, text=True, preexec_fn=_default_sigint)
    log = out / "NGC6871" / "ccdphot.log"
    deadline = time.monotonic() + 120
    tools = []
    while time.monotonic() < deadline and process.poll() is None:
        if log.is_file() and "pyraf_worker aperture.json" in log.read_text():
            tools = [p for p in _descendants(process.pid) if "pyraf_worker" in " ".join(
                p.cmdline())]
            if tools:
                break
        time.sleep(0.02)
    assert tools, "PyRAF never ran"
    os.killpg(process.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "ccdphot: interrupted" in stderr and "Traceback" not in stderr
    record = json.loads((out / "NGC6871" / "run.json").read_text())
    assert record["status"] == "interrupted at aperture: KeyboardInterrupt"
    time.sleep(0.2)
    assert not [p for p in tools if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
