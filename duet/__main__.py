"""Entry point for ``python -m duet`` (see `duet.cli`)."""

import sys

from duet.cli import main

sys.exit(main())
