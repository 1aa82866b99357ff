"""DAOPHOT PSF iterations that mean something: what changed, when to stop, which function.

Iteration 1 fits the PSF on the frame. Each further iteration fits the PSF
stars and their neighbours with NSTAR (the previous PSF), subtracts the
neighbours with SUBSTAR (the PSF stars stay) and fits the PSF again on that
cleaned frame, as the IRAF PSF help describes. After every iteration the
record says what changed: the PSF stars kept and rejected, the analytic
parameters, the look-up table and the whole model (SEEPSF images at the
PSF's centre and, for a variable PSF, the frame's corners, compared as
normalised profiles). Iterating stops once the model changes by less than
``convergence_tolerance`` of its peak, or after ``max_iterations``.

With ``function = "auto"`` (or a list, as a legacy negative AN gives) IRAF
tries every (listed) analytic function and keeps the smallest fit scatter;
:func:`choose_function` takes instead the function with the fewest free
parameters among those within ``function_tolerance`` (relative) of the best,
and iteration 1 is refitted with it when that differs from IRAF's choice. Figures are recorded and logged with 5 significant digits.

IRAF calls run as few PyRAF jobs as the decisions allow: the job of the last
possible iteration also runs the caller's final calls (ALLSTAR).
"""

import logging
import math
import re
import shutil

import numpy as np
from astropy.io import fits

from ccdphot.daophot.psets import PSF_FUNCTIONS
from ccdphot.errors import ToolError
from ccdphot.wrappers import daophot

log = logging.getLogger(__name__)

FUNCTION_TRIAL_LOG = "psf_iter1_functions.log"
# The PSF task failed, or wrote no model and the SEEPSF of that model failed.
_PSF_TASK_FAILED = re.compile(r"IRAF task (psf|seepsf) failed")


def figure(value):
    """``value`` with 5 significant digits (None stays None)."""
    return None if value is None else float(f"{value:.5g}")


def choose_function(scatter_by_function, tolerance):
    """(function, note): the fewest analytic parameters among the functions whose
    fit scatter is within ``tolerance`` (a fraction) of the best one's; ties go
    to the smaller scatter."""
    best = min(scatter_by_function, key=scatter_by_function.get)
    limit = scatter_by_function[best] * (1.0 + tolerance)
    candidates = [name for name, scatter in scatter_by_function.items() if scatter <= limit]
    chosen = min(candidates, key=lambda name: (PSF_FUNCTIONS[name][2], scatter_by_function[name]))
    if chosen == best:
        return chosen, f"{chosen} has the smallest fit scatter"
    return chosen, (f"{chosen} ({PSF_FUNCTIONS[chosen][2]} parameters, scatter "
                    f"{scatter_by_function[chosen]:.5g}) fits as well as {best} "
                    f"({PSF_FUNCTIONS[best][2]} parameters, {scatter_by_function[best]:.5g}) "
                    f"within {tolerance:.5g}")


def iteration_files(k):
    """The file names of PSF iteration ``k`` in the work directory."""
    stem = f"psf_iter{k}"
    return {"psf": f"{stem}.fits", "pst": f"{stem}.pst", "psg": f"{stem}.psg",
            "log": f"{stem}.log", "nst": f"{stem}.nst", "nrj": f"{stem}.nrj",
            "cleaned": f"cleaned_iter{k}.fits"}


def _seen_name(k, j):
    return f"psf_iter{k}_seen{j}.fits"


def model_positions(shape, varorder):
    """Where the model is compared: the PSF's centre, and the frame's corners when
    the PSF varies (1-based pixels; None = the PSF's own centre)."""
    if varorder <= 0:
        return [None]
    ny, nx = shape
    return [None, (1.0, 1.0), (float(nx), 1.0), (1.0, float(ny)), (float(nx), float(ny))]


class _Chain:
    """The IRAF calls of the iterations of one frame (names, and the job that runs them)."""

    def __init__(self, tool, work_dir, image, photfile, pstfile, psets, shape, task_params):
        self.tool, self.work_dir, self.image = tool, work_dir, image
        self.photfile, self.pstfile = photfile, pstfile
        self.psets, self.shape, self.task_params = psets, shape, task_params
        self.positions = model_positions(shape, int(psets["daopars"]["varorder"]))
        self.jobs = 0
        self.seconds = 0.0

    def source(self, k):
        return self.image if k == 1 else iteration_files(k - 1)["cleaned"]

    def psf(self, k):
        """PSF of iteration ``k`` and the SEEPSF views of its model."""
        names = iteration_files(k)
        calls = [daophot.psf_call(self.source(k), self.photfile, self.pstfile, names["psf"],
                                  names["pst"], names["psg"], names["log"])]
        for j, position in enumerate(self.positions):
            x, y = position or ("INDEF", "INDEF")
            calls.append(daophot.seepsf_call(names["psf"], _seen_name(k, j), x, y))
        return calls

    def cleaning(self, k):
        """NSTAR of iteration ``k``'s PSF groups, SUBSTAR of all but the PSF stars."""
        names = iteration_files(k)
        return [daophot.nstar_call(self.image, names["psg"], names["psf"], names["nst"],
                                   names["nrj"]),
                daophot.substar_call(self.image, names["nst"], self.pstfile, names["psf"],
                                     names["cleaned"])]

    def run(self, calls, expect, iterations):
        """Run one PyRAF job; None, or the iteration k > 1 whose PSF fit wrote no model.

        IRAF's PSF task may fail to converge on the cleaned frame of a later
        iteration (seen on a HAT-P-32 frame at 3.4 px seeing); it then writes no
        model and the job's SEEPSF of it fails. The caller then keeps iteration
        k - 1's PSF, which did fit. Any other failure raises ToolError.
        """
        self.jobs += 1
        try:
            done = daophot.Job(self.tool, self.work_dir, name=f"psf_job{self.jobs}",
                               psets=self.psets, calls=tuple(calls), expect=tuple(expect),
                               task_params=self.task_params).run()
        except ToolError as err:
            missing = self._first_without_model(iterations) \
                if _PSF_TASK_FAILED.search(err.stderr_tail or "") else None
            if missing is not None and missing > 1:
                log.warning("PSF iteration %d: IRAF PSF fitted no model on the cleaned frame "
                            "(see work/%s); the PSF of iteration %d is kept", missing,
                            iteration_files(missing)["log"], missing - 1)
                return missing
            raise self._failure(err, missing) from err
        self.seconds += done.run.seconds
        return None

    def _first_without_model(self, iterations):
        return next((k for k in iterations
                     if not (self.work_dir / iteration_files(k)["psf"]).is_file()), None)

    def _failure(self, err, missing):
        """A clearer error when IRAF PSF fitted no model in iteration ``missing``."""
        if missing is None:
            return err
        names = iteration_files(missing)
        return ToolError(err.tool, f"PSF fit failed in iteration {missing}: no PSF model "
                         f"written (see work/{names['log']}); check the PSF stars in "
                         f"work/{self.pstfile} and [psf] function/psfrad_fwhm",
                         argv=err.argv, returncode=err.returncode,
                         stderr_tail=err.stderr_tail)


def fit_psf(tool, work_dir, image, photfile, pstfile, psets, shape, config, final,
            task_params=None):
    """Iterate the PSF of ``image`` from the stars of ``pstfile``; the iteration records.

    ``psets`` are the frame's parameter sets (daopars.function may be 'auto' or a
    list of functions);
    ``shape`` (ny, nx) the frame's; ``config`` the ``[psf]`` table
    (iterations, convergence_tolerance, function_tolerance, max_fit_scatter);
    ``final(psf_image)`` returns (calls, expected files) to run with the last
    PSF (ALLSTAR). Returns (records, name of the last PSF image, number of
    PyRAF jobs, seconds in IRAF). A fit with an unusable model raises ToolError.
    """
    max_iterations = int(config["iterations"])
    chain = _Chain(tool, work_dir, image, photfile, pstfile, psets, shape, task_params)
    function = str(psets["daopars"]["function"])
    choice_pending = function == "auto" or "," in function  # IRAF tries several
    choice = None
    ks, calls, records = [1], chain.psf(1), []
    while True:
        last = ks[-1] == max_iterations and not choice_pending
        final_calls, final_expect = final(iteration_files(ks[-1])["psf"]) if last else ([], [])
        failed = chain.run(calls + final_calls,
                           [iteration_files(k)["psf"] for k in ks] + final_expect, ks)
        for k in ks:
            if failed is None or k < failed:
                records.append(_record(work_dir, k, chain, config))
        if failed is not None:
            records[-1]["next_iteration_failed"] = True
            calls, expect = final(iteration_files(failed - 1)["psf"])
            chain.run(calls, expect, [])
            break
        if choice_pending:
            choice_pending = False
            chosen, choice = choose_function(records[0]["scatter_by_function"],
                                             float(config["function_tolerance"]))
            log.info("PSF function: %s", choice)
            if chosen != records[0]["function"]:
                log.info("PSF iteration 1 is fitted again with %s (IRAF's own trial of every "
                         "function is kept in work/%s)", chosen, FUNCTION_TRIAL_LOG)
                shutil.move(work_dir / iteration_files(1)["log"], work_dir / FUNCTION_TRIAL_LOG)
                chain.psets = {**psets, "daopars": {**psets["daopars"], "function": chosen}}
                ks = [1, 2] if max_iterations > 1 else [1]
                calls = chain.psf(1) + (chain.cleaning(1) + chain.psf(2) if len(ks) > 1 else [])
                records = []
                continue
        if last:
            break
        if records[-1]["converged"] or ks[-1] == max_iterations:
            calls, expect = final(iteration_files(ks[-1])["psf"])
            chain.run(calls, expect, [])
            break
        k = ks[-1] + 1
        ks, calls = [k], chain.cleaning(k - 1) + chain.psf(k)
    if choice:
        records[0]["function_choice"] = choice
    return records, iteration_files(records[-1]["iteration"])["psf"], chain.jobs, chain.seconds


def _record(work_dir, k, chain, config):
    """What iteration ``k`` did and changed (JSON-ready, 5 significant digits); logged."""
    names = iteration_files(k)
    report = daophot.read_psf_log(work_dir / names["log"])
    model = daophot.read_psf_header(work_dir / names["psf"])
    daophot.check_psf_fit(report, model, float(config["max_fit_scatter"]), names["log"])
    given = [int(i) for i in daophot.read_iraf_daophot(work_dir / chain.pstfile)["ID"]]
    kept = [int(i) for i in model["star_ids"]]
    record = {
        "iteration": k, "image": chain.source(k), "function": report["function"],
        "scatter": figure(report["scatter"].get(report["function"])),
        "scatter_by_function": {f: figure(s) for f, s in report["scatter"].items()},
        "parameters": [figure(p) for p in model["parameters"]],
        "psfheight_adu": figure(model["psfheight_adu"]),
        "n_psf_stars": len(kept), "psf_stars_rejected": sorted(set(given) - set(kept)),
    }
    if k > 1:
        record.update(_cleaning_figures(work_dir, k - 1, chain))
    record.update(_change(work_dir, k, model, chain))
    tolerance = float(config["convergence_tolerance"])
    record["converged"] = record["model_change"] is not None and \
        record["model_change"] <= tolerance
    _log_record(record, tolerance)
    return record


def _cleaning_figures(work_dir, k, chain):
    """How the frame iteration ``k + 1`` fits on differs from the original frame."""
    names = iteration_files(k)
    fitted = daophot.read_iraf_daophot(work_dir / names["nst"])
    psf_stars = set(int(i) for i in daophot.read_iraf_daophot(work_dir / chain.pstfile)["ID"])
    cleaned = fits.getdata(work_dir / names["cleaned"]).astype(float)
    original = fits.getdata(work_dir / chain.image).astype(float)
    changed = np.abs(cleaned - original) > 0
    return {"n_neighbours_subtracted": int(sum(int(i) not in psf_stars for i in fitted["ID"])),
            "pixels_changed": int(changed.sum())}


def _seen_profiles(work_dir, k, chain):
    profiles = []
    for j in range(len(chain.positions)):
        data = fits.getdata(work_dir / _seen_name(k, j)).astype(float)
        profiles.append(data / data.sum())
    return profiles


def _change(work_dir, k, model, chain):
    """Change of iteration ``k``'s model from iteration k - 1's (fractions of its peak)."""
    out = {"lookup_change_rms": None, "lookup_change_max": None, "parameter_change": None,
           "model_change": None}
    if k == 1:
        return out
    tables = daophot.read_psf_lookup_tables(work_dir / iteration_files(k)["psf"])
    previous_psf = work_dir / iteration_files(k - 1)["psf"]
    before = daophot.read_psf_lookup_tables(previous_psf)
    height = float(model["psfheight_adu"])
    if tables.shape == before.shape and tables.size:
        delta = (tables - before) / height
        out["lookup_change_rms"] = figure(math.sqrt(float(np.mean(delta ** 2))))
        out["lookup_change_max"] = figure(float(np.max(np.abs(delta))))
    before_model = daophot.read_psf_header(previous_psf)
    if before_model["function"] == model["function"]:
        out["parameter_change"] = [figure(p - q) for p, q in zip(model["parameters"],
                                                                 before_model["parameters"])]
    now, then = _seen_profiles(work_dir, k, chain), _seen_profiles(work_dir, k - 1, chain)
    if all(a.shape == b.shape for a, b in zip(now, then)):
        out["model_change"] = figure(max(float(np.max(np.abs(a - b)) / np.max(b))
                                         for a, b in zip(now, then)))
    return out


def _log_record(record, tolerance):
    k = record["iteration"]
    where = record["image"]
    if k > 1:
        where += (f": {record['n_neighbours_subtracted']} neighbours of the PSF stars subtracted, "
                  f"{record['pixels_changed']} pixels changed")
    tried = record["scatter_by_function"]
    log.info("PSF iteration %d on %s: function %s, parameters %s, fit scatter %.5g%s", k, where,
             record["function"], ", ".join(f"{p:.5g}" for p in record["parameters"]),
             record["scatter"], "" if len(tried) == 1 else
             " (tried " + ", ".join(f"{f} {s:.5g}" for f, s in tried.items()) + ")")
    log.info("PSF iteration %d: %d PSF stars kept, %d rejected%s", k, record["n_psf_stars"],
             len(record["psf_stars_rejected"]),
             f" (IDs {', '.join(map(str, record['psf_stars_rejected']))})"
             if record["psf_stars_rejected"] else "")
    if record["model_change"] is not None or record["lookup_change_max"] is not None:
        log.info("PSF iteration %d changed the model by %s of its peak (look-up table: rms %s, "
                 "max %s; parameters %s): %s", k, _text(record["model_change"]),
                 _text(record["lookup_change_rms"]), _text(record["lookup_change_max"]),
                 "-" if record["parameter_change"] is None else
                 ", ".join(f"{d:+.5g}" for d in record["parameter_change"]),
                 f"converged (tolerance {tolerance:.5g})" if record["converged"] else
                 f"not converged (tolerance {tolerance:.5g})")


def _text(value):
    return "?" if value is None else f"{value:.5g}"
