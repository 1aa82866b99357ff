"""One module per external tool, all built on :mod:`ccdphot.wrappers.base`.

Installed as ``ccdphot.wrappers``: import ``ccdphot.wrappers.sextractor``.
"""
