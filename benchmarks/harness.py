"""Benchmark harness: per-step times, wrapper overhead, batch throughput, memory -> markdown.

One command, run on demand (never in the test suite)::

    .venv/bin/python benchmarks/harness.py [--report harness_report.md] [--copies 6]
                                           [--parts steps,throughput] [--hatp32 6]

It measures, on the real frames of ``../shared/data`` and the bundled NGC 6871
frame, with the full pipeline offline (NGC 6871 against the local APASS DR10
extract, the others against the bundled Gaia stars):

1. the time of every step per frame (run.json), in one process, after a warm-up
   frame (the first frame of a process also loads astropy's IERS tables);
2. the wrapper overhead: each step's time against the time of the tool
   processes it ran (from the frame log), IRAF's own task times inside the PyRAF
   jobs, and bare re-runs of the same SExtractor and SCAMP commands;
3. batch throughput (frames/min) on copies of the NGC 6871 frame with a
   LocalCluster of 1 and of 2 worker processes (each with its persistent PyRAF
   session, the default), the scaling ratio, and each worker's peak memory
   (its own and its largest tool's) and CPU time; and 1 worker with one-shot
   PyRAF jobs (``[tools.iraf] persistent = false``): the persistent worker's
   speed-up in a batch, for the aperture+psf steps and the whole frame.

Wall-clock figures depend on what else the machine runs: the report gives the
load average before and after each part and the CPU time per frame, which
other processes disturb much less.
"""

import argparse
import logging
import os
import platform
import re
import resource
import shlex
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil  # installed with distributed

import ccdphot
from ccdphot.batch import run_batch
from ccdphot.config import load_config
from ccdphot.frame.pipeline import run_frame
from ccdphot.tools import ToolRegistry

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "data"
NGC6871 = REPO / "tests" / "data" / "ngc6871" / "NGC6871.fits"
APASS = SHARED / "catalogs" / "ngc6871" / "apass_dr10_ngc6871.csv"
# APASS DR10 column names -> catalogue schema bands (docs/catalogs.rst, [catalogs.columns])
APASS_COLUMNS = {band: f"mag_{name}" for band, name in
                 (("B", "b"), ("V", "v"), ("g", "g"), ("r", "r"), ("i", "i"))}
APASS_COLUMNS.update({f"e_{band}": f"err_{column}" for band, column in APASS_COLUMNS.items()})
OFFLINE = {"catalogs": {"offline": True, "columns": APASS_COLUMNS}}
STEP_ORDER = ("input", "header", "calibrate", "detect", "astrometry", "aperture", "psf",
              "zeropoint", "write")
_RUN_LINE = re.compile(r"ccdphot\.wrappers\.base: run (.+?): (.+) \(in work directory")
_DONE_LINE = re.compile(r"ccdphot\.wrappers\.base: (.+) finished in ([0-9.]+) s")
_STEP_LINE = re.compile(r"=== step (\w+) ===")
_IRAF_TASK = re.compile(r"stdout: (\w+): ([0-9.]+) s$")


def _cpu_seconds():
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _load():
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def run_frames(frames, config, options, out):
    """Run each frame in this process, with one ToolRegistry (and PyRAF session) as a
    batch worker does; [(run.json record, CPU s)], failures included."""
    results = []
    with ToolRegistry(config, sessions=True) as tools:
        for frame in frames:
            cpu = _cpu_seconds()
            try:
                record = run_frame(frame, config, out=out, options=options, tools=tools).record
            except ccdphot.CCDPhotError as err:
                record = err.result.record
            results.append((record, _cpu_seconds() - cpu))
    return results


def step_rows(results):
    """Markdown rows: per step, median/min/max seconds over the frames where it ran."""
    rows = []
    for step in STEP_ORDER:
        times = [entry["seconds"] for record, _ in results for entry in record["steps"]
                 if entry["name"] == step and entry["status"] in ("ok", "skipped")]
        if times:
            rows.append(f"| {step} | {statistics.median(times):.2f} | {min(times):.2f} | "
                        f"{max(times):.2f} | {len(times)} |")
    totals = [record["seconds"] for record, _ in results]
    cpus = [cpu for _, cpu in results]
    rows.append(f"| **frame (wall)** | {statistics.median(totals):.2f} | {min(totals):.2f} | "
                f"{max(totals):.2f} | {len(totals)} |")
    rows.append(f"| **frame (CPU, with tools)** | {statistics.median(cpus):.2f} | "
                f"{min(cpus):.2f} | {max(cpus):.2f} | {len(cpus)} |")
    return rows


def statuses(results):
    counts = {}
    for record, _ in results:
        key = record["status"].split(":")[0].split(",")[0]
        counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{n} {status}" for status, n in counts.items())


def tool_calls(log_path):
    """{step: {"tools": [(label, argv, s)], "iraf_tasks_s": float}} from a frame log."""
    steps, step, argv = {}, None, {}
    for line in Path(log_path).read_text().splitlines():
        if (match := _STEP_LINE.search(line)):
            step = match.group(1)
            steps[step] = {"tools": [], "iraf_tasks_s": 0.0}
        elif (match := _RUN_LINE.search(line)):
            argv[match.group(1)] = match.group(2)
        elif (match := _DONE_LINE.search(line)) and step:
            label = match.group(1)
            steps[step]["tools"].append((label, argv.get(label, ""), float(match.group(2))))
        elif (match := _IRAF_TASK.search(line)) and step:
            steps[step]["iraf_tasks_s"] += float(match.group(2))
    return steps


def bare_seconds(work_dir, argv, repeat=3):
    """Median time of ``argv`` re-run in a scratch copy of ``work_dir``."""
    times = []
    with tempfile.TemporaryDirectory(prefix="ccdphot-bare-") as scratch:
        copy = Path(scratch) / "work"
        shutil.copytree(work_dir, copy)
        for _ in range(repeat):
            start = time.perf_counter()
            subprocess.run(argv, cwd=copy, check=True, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def overhead_rows(record, out_dir, config):
    """Markdown rows: step time, tool processes, ccdphot's own time, IRAF tasks, bare re-runs."""
    calls = tool_calls(out_dir / "ccdphot.log")
    registry = ToolRegistry(config)
    rows, bare_rows = [], []
    for entry in record["steps"]:
        step = calls.get(entry["name"], {"tools": [], "iraf_tasks_s": 0.0})
        if not step["tools"] or entry["seconds"] is None:
            continue
        tool_s = sum(seconds for _, _, seconds in step["tools"])
        labels = ", ".join(sorted({label for label, _, _ in step["tools"]}))
        iraf = step["iraf_tasks_s"]
        rows.append(f"| {entry['name']} | {entry['seconds']:.2f} | {labels} "
                    f"({len(step['tools'])}) | {tool_s:.2f} | {entry['seconds'] - tool_s:.2f} | "
                    + (f"{iraf:.2f} / {tool_s - iraf:.2f} |" if iraf else "- |"))
        for label, argv, seconds in step["tools"]:
            name = {"SExtractor": "sextractor", "SCAMP": "scamp"}.get(label)
            if name:
                words = shlex.split(argv)
                bare = bare_seconds(out_dir / "work",
                                    [registry.resolve(name).executable, *words[1:]])
                bare_rows.append(f"| {label} | `{' '.join(words)}` | {seconds:.2f} | "
                                 f"{bare:.2f} |")
    return rows, bare_rows


class MemorySampler:
    """Peak RSS of each worker process plus its tool processes, sampled every 0.2 s.

    A tool's own peak cannot be read from getrusage (a child forked from a large
    worker starts with the worker's RSS), so the process trees are sampled.
    """

    def __init__(self, pids):
        self.pids = pids
        self.peaks = {pid: 0.0 for pid in pids}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _tree_mb(self, pid):
        try:
            root = psutil.Process(pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0.0
        total = 0
        for process in processes:
            try:
                total += process.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        return total / 2**20

    def _run(self):
        while not self._stop.wait(0.2):
            for pid in self.pids:
                self.peaks[pid] = max(self.peaks[pid], self._tree_mb(pid))

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def _worker_cpu():
    """Run on each worker: CPU s of the worker process and its finished tool processes."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def throughput(frames, n_workers, config, options, out):
    """Batch ``frames`` on a fresh LocalCluster of ``n_workers``; figures as a dict."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                      dashboard_address=":0", silence_logs=logging.ERROR) as cluster, \
            Client(cluster, set_as_default=False) as client:
        pids = list(client.run(os.getpid).values())
        load_before = _load()
        with MemorySampler(pids) as memory:
            start = time.perf_counter()
            result = run_batch(frames, config=config, out=out,
                               scheduler=cluster.scheduler_address, force=True, options=options)
            wall = time.perf_counter() - start
        cpu = sum(client.run(_worker_cpu).values())
    summary = result.summary
    failures = sorted({str(row["status"]) for row in summary if not str(row["status"])
                       .startswith("ok")})
    daophot_s = np.ma.masked_invalid(np.ma.asarray(summary["aperture_s"], float)
                                     + np.ma.asarray(summary["psf_s"], float)).compressed()
    return {"workers": n_workers, "frames": len(frames), "wall_s": wall,
            "persistent": config["tools"]["iraf"]["persistent"],
            "median_daophot_s": float(np.median(daophot_s)) if daophot_s.size else float("nan"),
            "frames_per_min": 60.0 * len(frames) / wall, "n_ok": summary.meta["N_OK"],
            "median_frame_s": statistics.median(summary["total_s"]),
            "memory_mb": max(memory.peaks.values()), "cpu_s_per_frame": cpu / len(frames),
            "load": f"{load_before} -> {_load()}", "failures": failures}


def part_steps(config, scratch, n_hatp32):
    """Part 1 (time per step) and 2 (overhead), as markdown lines."""
    apass = {"refcat": str(APASS)}
    skycamz = sorted((SHARED / "skycamz").glob("*.fits"))
    hatp32_all = sorted((SHARED / "hatp32" / "frames").glob("*.FITS"))
    hatp32 = hatp32_all[::max(1, len(hatp32_all) // n_hatp32)][:n_hatp32]
    warm_cpu, warm_start = _cpu_seconds(), time.perf_counter()
    run_frames([NGC6871], config, apass, scratch / "warmup")
    lines = [f"Warm-up frame (NGC 6871, full pipeline, first in the process): "
             f"{time.perf_counter() - warm_start:.1f} s wall, "
             f"{_cpu_seconds() - warm_cpu:.1f} s CPU.", "",
             "## 1. Time per step (s), one process, full pipeline offline", ""]
    sets = [("NGC 6871 (1250x1150, I, local APASS DR10), 3 runs", [NGC6871] * 3, apass),
            (f"SkyCamZ ({len(skycamz)} frames, 1024x1024, bundled Gaia stars)", skycamz, {}),
            (f"HAT-P-32 night ({len(hatp32)} of {len(hatp32_all)} frames, 650x500)",
             hatp32, {})]
    ngc_results = None
    for title, frames, options in sets:
        before = _load()
        results = run_frames(frames, config, options, scratch / "steps")
        ngc_results = ngc_results or results
        lines += [f"### {title}", "", f"Statuses: {statuses(results)}; load {before} -> "
                  f"{_load()}.", "", "| step | median | min | max | frames |",
                  "|---|---|---|---|---|", *step_rows(results), ""]
    rows, bare_rows = overhead_rows(ngc_results[-1][0], scratch / "steps" / "NGC6871", config)
    return lines + [
        "## 2. Wrapper overhead (NGC 6871, last run)", "",
        "Tool processes = wall time of the tool subprocesses the step ran (as measured by the "
        "runner); ccdphot's own = step minus tools (building inputs, parsing, products). For "
        "PyRAF jobs: IRAF's own task time / the rest of the job (PyRAF start-up, package "
        "loading, file I/O).", "",
        "| step | step s | tool processes (calls) | tools s | ccdphot's own s | "
        "IRAF tasks / PyRAF rest s |", "|---|---|---|---|---|---|", *rows, "",
        "Bare re-runs of the same commands in a copy of the work directory (median of 3):", "",
        "| tool | command | in the step s | bare s |", "|---|---|---|---|", *bare_rows, ""]


def part_throughput(config, scratch, n_copies):
    """Part 3 (batch throughput, scaling, memory), as markdown lines."""
    copies = []
    for i in range(n_copies):
        dest = scratch / "copies" / f"night{i}" / NGC6871.name
        dest.parent.mkdir(parents=True)
        shutil.copy(NGC6871, dest)
        copies.append(dest)
    one_shot = load_config(data={**OFFLINE, "tools": {"iraf": {"persistent": False}}})
    figures = [throughput(copies, n, cfg, {"refcat": str(APASS)}, scratch / f"batch{n}{tag}")
               for n, cfg, tag in ((1, config, ""), (2, config, ""), (1, one_shot, "_oneshot"))]
    scaling = figures[1]["frames_per_min"] / figures[0]["frames_per_min"]
    cpu = figures[0]["cpu_s_per_frame"]
    lines = [f"## 3. Batch throughput ({n_copies} copies of NGC 6871, full pipeline, "
             "LocalCluster, one thread per worker)", "",
             "| workers | PyRAF | frames ok | wall s | frames/min | median s per frame | "
             "median aperture+psf s | CPU s per frame | peak memory per worker MB (worker + "
             "its tools) | load |", "|---|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {f['workers']} | {'session' if f['persistent'] else 'one-shot jobs'} | "
              f"{f['n_ok']}/{f['frames']} | {f['wall_s']:.1f} | "
              f"{f['frames_per_min']:.2f} | {f['median_frame_s']:.2f} | "
              f"{f['median_daophot_s']:.2f} | "
              f"{f['cpu_s_per_frame']:.2f} | {f['memory_mb']:.0f} | {f['load']} |"
              for f in figures]
    lines += [f"\nNot ok with {f['workers']} worker(s): " + "; ".join(f["failures"])
              for f in figures if f["failures"]]
    session, oneshot = figures[0], figures[2]
    return lines + [
        "", f"Scaling 1 -> 2 workers: **{scaling:.2f}x** (target >= 1.8). CPU time per frame "
        f"{cpu:.2f} s: on {os.cpu_count()} idle cores that allows at most "
        f"{60.0 * os.cpu_count() / cpu:.1f} frames/min. Target: NGC 6871 full pipeline < 3 s "
        f"per frame in a batch (measured median {figures[0]['median_frame_s']:.2f} s with 1 "
        "worker).", "",
        f"Persistent PyRAF worker (1 worker, session vs one-shot jobs): aperture+psf "
        f"**{oneshot['median_daophot_s'] / session['median_daophot_s']:.2f}x** faster per "
        f"frame (target >= 2), whole frame "
        f"{oneshot['median_frame_s'] / session['median_frame_s']:.2f}x, "
        f"throughput {session['frames_per_min'] / oneshot['frames_per_min']:.2f}x.", ""]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", default="harness_report.md", help="markdown file to write")
    parser.add_argument("--parts", default="steps,throughput",
                        help="what to measure: steps (parts 1 and 2), throughput (part 3)")
    parser.add_argument("--copies", type=int, default=6,
                        help="NGC 6871 copies in the throughput batches (default 6)")
    parser.add_argument("--hatp32", type=int, default=6,
                        help="HAT-P-32 frames, spread over the night (default 6)")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    logging.getLogger("ccdphot").addHandler(logging.NullHandler())
    config = load_config(data=OFFLINE)
    lines = [f"# ccdphot benchmark harness ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
             "", f"ccdphot {ccdphot.__version__}, Python {platform.python_version()}, "
             f"{os.cpu_count()} CPUs; load average (1/5/15 min) at the start: {_load()}.",
             "Wall-clock times depend on what else runs on the machine; CPU times much less.",
             ""]
    scratch = Path(tempfile.mkdtemp(prefix="ccdphot-harness-"))
    try:
        if "steps" in parts:
            lines += part_steps(config, scratch, args.hatp32)
        if "throughput" in parts:
            lines += part_throughput(config, scratch, args.copies)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    Path(args.report).write_text("\n".join(lines) + "\n")
    print(f"report written to {args.report}")


if __name__ == "__main__":
    main()
