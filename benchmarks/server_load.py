"""Load check of the calibration server: N concurrent uploads of real frames, loopback only.

Starts ``ccdphot serve`` on 127.0.0.1 (a temporary data folder, SQLite unless
``--db`` names another database, ``--workers`` local Dask workers, frames run
``header,detect,zeropoint`` offline against the bundled Gaia stars), then:

1. one upload alone on the idle server just started (its workers still loading),
   then one more on the warm idle server: latency upload -> calibrated point;
2. N uploads sent by C concurrent clients, alternating the real SkyCamZ frames
   (calibrated in Gaia G) and HAT-P-32 frames (no WCS offline, so their point
   says "not calibrated"); a frame repeats only for another target, so every
   upload is a new job.

It reports the acknowledgement time of the uploads, the latency from the start
of an upload to its point (p50/p95, per frame set; seen by polling every
0.25 s, and as the server recorded it), the throughput, and checks that every
upload has its result. Bounded in count (``--uploads`` at most 200) and time
(``--timeout``); it stops the server itself. Figures are printed, never asserted.

    .venv/bin/python benchmarks/server_load.py [--uploads 20] [--concurrency 8] [--workers 2]
"""

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import requests

from ccdphot.server.process import ServerProcess

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
SKYCAMZ_STAR = ("256.16509931232565", "12.346004344277313")
HATP32 = ("02:04:10.28", "+46:41:16.2")
MAX_UPLOADS = 200
POLL_S = 0.25


def frame_sets():
    skycamz = sorted((SHARED / "skycamz").glob("*.fits"))
    hatp32 = sorted((SHARED / "hatp32" / "frames").glob("*.FITS"))
    if not skycamz or not hatp32:
        sys.exit(f"the SkyCamZ and HAT-P-32 frames are not in {SHARED}")
    return {"skycamz": (skycamz, SKYCAMZ_STAR), "hatp32": (hatp32, HATP32)}


def plan(n_uploads, sets):
    """(set, frame, target, ra, dec) for each upload: the sets alternate; a frame
    comes again only for another target."""
    names = list(sets)
    uploads = []
    for index in range(n_uploads):
        kind = names[index % len(names)]
        frames, (ra, dec) = sets[kind]
        number = index // len(names)
        uploads.append((kind, frames[number % len(frames)],
                        f"bench {kind} {number // len(frames)}", ra, dec))
    return uploads


def upload(url, token, item):
    kind, frame, target, ra, dec = item
    started = time.monotonic()
    with open(frame, "rb") as stream:
        answer = requests.post(f"{url}/api/v1/uploads", timeout=120,
                               headers={"Authorization": f"Bearer {token}"},
                               data={"target": target, "ra": ra, "dec": dec},
                               files={"file": (frame.name, stream)})
    acknowledged = time.monotonic()
    if answer.status_code != 202:
        raise RuntimeError(f"upload of {frame.name} for {target}: {answer.status_code} "
                           f"{answer.text}")
    return {"kind": kind, "job": answer.json()["job"]["id"], "started": started,
            "ack_s": acknowledged - started}


def wait_all(url, token, uploads, deadline):
    """Poll the job list until every job has ended; note when each was first seen ended."""
    pending = {u["job"]: u for u in uploads}
    while pending and time.monotonic() < deadline:
        answer = requests.get(f"{url}/api/v1/jobs", params={"limit": 1000}, timeout=60,
                              headers={"Authorization": f"Bearer {token}"})
        now = time.monotonic()
        for job in answer.json():
            if job["id"] in pending and job["status"] in ("done", "failed"):
                entry = pending.pop(job["id"])
                entry.update(seen_s=now - entry["started"], job_record=job)
        time.sleep(POLL_S)
    return pending


def server_latency(job):
    received = datetime.fromisoformat(job["received_utc"])
    finished = datetime.fromisoformat(job["finished_utc"])
    return (finished - received).total_seconds()


def percentiles(values):
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.1f} s"
    cuts = statistics.quantiles(values, n=20, method="inclusive")
    return f"p50 {statistics.median(values):.1f} s, p95 {cuts[18]:.1f} s"


def report(uploads, wall_s):
    print(f"{'set':8s} {'n':>3s} {'calibrated':>10s}  latency upload -> point (polled)"
          f"           server (received -> finished)")
    for kind in sorted({u["kind"] for u in uploads}):
        mine = [u for u in uploads if u["kind"] == kind and "job_record" in u]
        calibrated = sum(bool((u["job_record"]["point"] or {}).get("calibrated")) for u in mine)
        print(f"{kind:8s} {len(mine):3d} {calibrated:10d}  "
              f"{percentiles([u['seen_s'] for u in mine]):36s}"
              f"{percentiles([server_latency(u['job_record']) for u in mine])}")
    done = [u for u in uploads if "job_record" in u]
    print(f"all      {len(done):3d}             "
          f"{percentiles([u['seen_s'] for u in done]):36s}"
          f"{percentiles([server_latency(u['job_record']) for u in done])}")
    print(f"upload acknowledged (file and record durable): "
          f"{percentiles([u['ack_s'] for u in uploads])}")
    print(f"throughput: {len(done)} frames in {wall_s:.1f} s = {len(done) / wall_s:.2f} "
          f"frames/s ({60 * len(done) / wall_s:.0f} per minute)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=20, help=f"N (at most {MAX_UPLOADS})")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent clients")
    parser.add_argument("--workers", type=int, default=2, help="local Dask worker processes")
    parser.add_argument("--db", help="database URL (default: SQLite in the temporary folder)")
    parser.add_argument("--timeout", type=float, default=900.0, help="give up after (s)")
    args = parser.parse_args()
    n_uploads = max(1, min(args.uploads, MAX_UPLOADS))
    sets = frame_sets()
    with tempfile.TemporaryDirectory(prefix="ccdphot-load-") as tmp:
        server = ServerProcess(Path(tmp) / "data", args.db, [
            "--workers", str(args.workers), "--steps", "header,detect,zeropoint",
            "--uploads-per-minute", str(10 * MAX_UPLOADS), "-o", "catalogs.offline=true",
            "-o", f"catalogs.cache_dir={Path(tmp) / 'cache'}"])
        token = server.add_observer("bench")
        deadline = time.monotonic() + args.timeout
        try:
            started = time.monotonic()
            server.start(timeout_s=args.timeout, min_workers=args.workers)
            print(f"server ready with {args.workers} workers in "
                  f"{time.monotonic() - started:.1f} s ({server.url})")
            for when, frame in (("just started", 0), ("warm", 1)):
                alone = [upload(server.url, token, ("skycamz", sets["skycamz"][0][frame],
                                                    "idle", *SKYCAMZ_STAR))]
                if wait_all(server.url, token, alone, deadline):
                    sys.exit(f"no result for the upload on the {when} server")
                print(f"one upload on the idle server, {when}: upload -> calibrated point "
                      f"{alone[0]['seen_s']:.1f} s (server: "
                      f"{server_latency(alone[0]['job_record']):.1f} s)")
            print()
            items = plan(n_uploads, sets)
            first = time.monotonic()
            with ThreadPoolExecutor(args.concurrency) as pool:
                uploads = list(pool.map(lambda item: upload(server.url, token, item), items))
            print(f"{n_uploads} uploads by {args.concurrency} clients sent in "
                  f"{time.monotonic() - first:.1f} s")
            missing = wait_all(server.url, token, uploads, deadline)
            last = max(u["started"] + u["seen_s"] for u in uploads if "seen_s" in u)
            report(uploads, last - first)
        finally:
            server.stop()
    if missing:
        print(f"MISSING: {len(missing)} uploads without a result after {args.timeout:g} s")
        return 1
    print(f"every upload has its result ({n_uploads} of {n_uploads})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
