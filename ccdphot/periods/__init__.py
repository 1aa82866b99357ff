"""Period search and light-curve models: VARTOOLS or the native engine, same columns.

See docs/periods.rst. :func:`ccdphot.periods.engine.search` runs a
:class:`~ccdphot.periods.engine.PeriodSearch` on light curves read with
:func:`~ccdphot.periods.lightcurve.read_lightcurve`.
"""
