"""``python -m isoforest ...``: the command line (see ``isoforest.cli``)."""

import sys

from .cli import main, run  # noqa: F401  (main: the entry point of old installs)

if __name__ == "__main__":
    sys.exit(run())
