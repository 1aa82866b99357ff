"""The per-frame steps, in order, declared as data.

Each step is a plain function ``step(ctx) -> dict`` of a
:class:`~ccdphot.context.FrameContext`; it returns the key figures the log and
``run.json`` report, or raises a :class:`~ccdphot.errors.CCDPhotError`. A step
this version does not provide has ``run=None``: the pipeline reports it as not
available instead of pretending to run it. ``write`` always runs last, also
after a failure, so the products made so far are kept.
"""

from dataclasses import dataclass
from typing import Callable, Optional

from ccdphot.frame.steps import (
    aperture,
    astrometry,
    calibrate,
    detect,
    header,
    psf,
    write,
    zeropoint,
)


@dataclass(frozen=True)
class Step:
    name: str
    run: Optional[Callable]
    needs: tuple = ()
    summary: str = ""

    @property
    def available(self):
        return self.run is not None


STEPS = (
    Step("header", header.run, (), "standardise keywords from telescope profiles"),
    Step("calibrate", calibrate.run, (), "bias, dark and flat calibration"),
    Step("detect", detect.run, (), "SExtractor detection, MAG_AUTO, FWHM, background, seeing"),
    Step("astrometry", astrometry.run, ("detect",), "WCS against Gaia"),
    Step("aperture", aperture.run, ("detect",), "DAOPHOT PHOT aperture photometry"),
    Step("psf", psf.run, ("detect",), "DAOPHOT/ALLSTAR PSF photometry"),
    Step("zeropoint", zeropoint.run, ("detect",), "zero point against APASS/Gaia"),
    Step("write", write.run, (), "unified table and products"),
)
STEP_NAMES = tuple(step.name for step in STEPS)
STEP_BY_NAME = {step.name: step for step in STEPS}
