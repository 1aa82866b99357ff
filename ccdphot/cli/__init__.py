"""The ``ccdphot`` command: one module per subcommand group, ``main`` in :mod:`.main`."""

from ccdphot.cli.main import main

__all__ = ["main"]
