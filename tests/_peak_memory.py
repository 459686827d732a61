"""Run by tests/io/test_csv_limits.py: the command line's ``main``, then the process's
peak resident memory on standard error (``peak_kib=N``).

Usage: python tests/_peak_memory.py ARGS...
"""

import resource
import sys

from isoforest.cli import main
code = main(sys.argv[1:])
sys.stderr.write(f"\npeak_kib={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}\n")
sys.exit(code)
