"""`python -m soundtrack` is the same as the `soundtrack` console script."""

import sys

from soundtrack.cli import main

sys.exit(main())
