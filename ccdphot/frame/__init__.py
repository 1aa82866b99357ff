"""The per-frame engine: the pipeline, the frame context, the unified table and the steps.

Only this package knows the frame context; the capabilities it calls take and
return astropy objects.
"""
