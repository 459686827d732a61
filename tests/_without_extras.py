"""Run by tests/jobs/test_broker.py: the command line with pika and prometheus_client
unimportable, as on an install without the ``amqp`` and ``metrics`` extras.

Usage: python tests/_without_extras.py ARGS...
"""

import sys

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("pika", "prometheus_client"):
            raise ImportError(f"No module named {name!r}")

sys.meta_path.insert(0, Block())
from isoforest.cli import main
sys.exit(main(sys.argv[1:]))
