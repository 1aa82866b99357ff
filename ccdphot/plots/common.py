"""What every ccdphot figure shares: an Agg figure (no display, no pyplot state) and
an atomic PNG write."""

import logging
from pathlib import Path

import numpy as np
from astropy.visualization import ImageNormalize, LinearStretch, ZScaleInterval
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ccdphot.products import atomic_target

log = logging.getLogger(__name__)


def agg_figure(width_in, height_in):
    """A matplotlib Figure drawn by the Agg backend (safe in threads and batches)."""
    fig = Figure(figsize=(width_in, height_in))
    FigureCanvasAgg(fig)
    return fig


def save_png(fig, path, dpi=100):
    """Write ``fig`` as a PNG at ``path`` atomically; return the path."""
    path = Path(path)
    with atomic_target(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    return path


def zscale_norm(image):
    """IRAF-style zscale display limits of an image (NaN ignored)."""
    finite = np.asarray(image, float)
    finite = finite[np.isfinite(finite)]
    return ImageNormalize(finite if finite.size else np.zeros(1), interval=ZScaleInterval(),
                          stretch=LinearStretch())
