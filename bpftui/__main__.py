"""Allow ``python -m bpftui``."""

import sys

from bpftui.cli import main

sys.exit(main())
