"""``python -m ccdphot`` is the ``ccdphot`` command."""

import sys

from .cli import main

sys.exit(main())
