"""Light curves from many frames' products (``photometry.ecsv`` + ``run.json``).

Cross-frame matching, comparison ensembles, detrending, variability indices,
the AAVSO format and plots. ``build_lightcurves`` and ``write_lightcurves``
are the Python API of ``ccdphot lightcurve``.
"""

from ccdphot.series.lightcurve import LightCurveOptions, build_lightcurves, parse_position
from ccdphot.series.output import write_lightcurves

__all__ = ["LightCurveOptions", "build_lightcurves", "parse_position", "write_lightcurves"]
