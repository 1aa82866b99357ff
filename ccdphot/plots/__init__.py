"""Every figure of ccdphot, one module per family: per-frame QC (frame_qc), zero point,
legacy comparison, PSF-star mosaics, light curves and their comparison ensemble,
periodograms, batch summaries, colour-magnitude diagrams.

Figures take astropy Tables, arrays and plain values (never the frame context) and
depend only on the foundations; :mod:`ccdphot.plots.common` holds what they share
(Agg figure, atomic PNG write, axis labels with units, the time axis).
"""
