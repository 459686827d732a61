"""``python -m isoforest ...``: the command line (see ``isoforest.cli``)."""

import sys

from .cli import run

if __name__ == "__main__":
    sys.exit(run())
