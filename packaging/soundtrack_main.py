"""Entry point of the bundled `soundtrack` (packaging/soundtrack.spec, `make dist`): the CLI."""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()  # the bank build's process pool re-enters the frozen binary
    from soundtrack.cli import main

    sys.exit(main())
