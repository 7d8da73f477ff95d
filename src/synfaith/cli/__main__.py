"""``python -m synfaith.cli``."""

import sys

from synfaith.cli import main

sys.exit(main())
