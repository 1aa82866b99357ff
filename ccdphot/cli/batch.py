"""Subcommand ``ccdphot batch``: many frames on Dask distributed, resumable.

A progress bar (frames done and failed, rate, time left) when stderr is a
terminal, one plain line per frame on stdout otherwise; failed frames are
always reported with their reason. Registered by :func:`add_batch_parser`.
"""

import logging
import sys

from ccdphot.batch.cluster import CONNECT_TIMEOUT_S

EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130


def add_batch_parser(sub, add_config_options, add_run_options, config_from_args,
                     run_options_from_args):
    """Add ``ccdphot batch``; the callables are those ``ccdphot run`` uses."""
    batch = sub.add_parser("batch", help="process many frames on Dask distributed (a local "
                                         "cluster or a scheduler), resumable")
    batch.add_argument("inputs", nargs="+", metavar="FRAME_OR_DIR",
                       help="FITS frames and/or directories of them (not recursive)")
    where = batch.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, metavar="N",
                       help="local worker processes (default: one per CPU)")
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="an existing Dask scheduler, e.g. tcp://host:8786 (its workers "
                            "must see the same paths)")
    batch.add_argument("--connect-timeout", type=float, default=CONNECT_TIMEOUT_S, metavar="S",
                       help=f"give up reaching --scheduler after S seconds "
                            f"(default {CONNECT_TIMEOUT_S:g})")
    batch.add_argument("--out", metavar="DIR", default=None,
                       help="results root (default: run.output_dir); batch_summary.ecsv and "
                            ".png go there")
    batch.add_argument("--force", action="store_true",
                       help="redo frames whose run.json already says ok for the same run")
    add_run_options(batch)
    add_config_options(batch)
    batch.set_defaults(func=lambda args: _cmd_batch(args, config_from_args(args),
                                                    run_options_from_args(args)))


class _Report:
    """Reports each frame as it ends: a tqdm bar on a terminal, else one line per frame."""

    def __init__(self, stream=sys.stderr):
        self.bar = None
        self.interactive = stream.isatty()
        self.counts = {"ok": 0, "failed": 0, "already done": 0}
        self.seen = 0
        self.n_frames = 0

    def start(self, n_frames, n_done):
        self.n_frames = n_frames
        if self.interactive:
            from tqdm import tqdm

            self.bar = tqdm(total=n_frames, initial=n_done, unit="frame", dynamic_ncols=True,
                            file=sys.stderr, desc="ccdphot batch", postfix=self.counts)

    def frame(self, outcome):
        self.seen += 1
        kind = "already done" if outcome.resumed else "ok" if outcome.ok else "failed"
        self.counts[kind] += 1
        if outcome.resumed:
            line = f"{outcome.name}: already done: {outcome.status}"
        else:
            line = (f"{outcome.name}: {outcome.status}, {outcome.seconds:.1f} s"
                    + (f" on {outcome.worker}" if outcome.worker else ""))
        if self.bar is None:
            if not self.interactive:
                print(f"[{self.seen}/{self.n_frames}] {line}", flush=True)
            return
        if kind == "failed":
            self.bar.write(line, file=sys.stderr)
        if not outcome.resumed:  # the frames already done are the bar's initial count
            self.bar.update(1)
        self.bar.set_postfix(self.counts, refresh=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def _cmd_batch(args, config, options):
    steps = [s.strip() for s in args.steps.split(",") if s.strip()] if args.steps else None
    from ccdphot.batch import run_batch

    if not args.debug:  # a lost scheduler is said in one line below, without Dask's tracebacks
        logging.getLogger("distributed.client").setLevel(logging.CRITICAL)
    report = _Report()
    try:
        result = run_batch(args.inputs, config=config, steps=steps,
                           out=args.out or config["run"]["output_dir"], workers=args.workers,
                           scheduler=args.scheduler, force=args.force, options=options,
                           on_frame=report.frame, on_start=report.start,
                           connect_timeout_s=args.connect_timeout)
    except KeyboardInterrupt:
        report.close()
        print(f"ccdphot: batch interrupted after {report.seen} frames; their results are "
              "kept: run the same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    report.close()
    counts = report.counts
    print(f"batch: {len(result.summary)} frames: {counts['ok'] + counts['already done']} ok "
          f"({counts['already done']} already done), {counts['failed']} failed; summary "
          f"{result.summary_path}, plot {result.plot_path}")
    return EXIT_OK if result.ok else EXIT_FAILED
