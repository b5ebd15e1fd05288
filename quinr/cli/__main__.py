"""``python -m quinr.cli``."""

import sys

from . import main

sys.exit(main())
