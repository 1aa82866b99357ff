"""``python -m ccdphot`` is the ``ccdphot`` command."""

import sys

from ccdphot.cli.main import main

sys.exit(main())
