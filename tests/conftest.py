"""Shared pytest setup.

Puts the repository root on ``sys.path`` so tests can import the naive twins in
``reference/`` (``from reference.iforest_naive import ...``) however pytest is run.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
