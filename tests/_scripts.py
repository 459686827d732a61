"""Running the scripts kept in ``tests/`` (``_pure_python_*.py`` and the like).

``run_pure_python(name, *args)`` runs ``tests/<name>`` in a fresh interpreter with
``NUMBA_DISABLE_JIT=1`` (the kernels as plain Python), the repository first on
``sys.path`` and as the working directory, and fails the calling test with the
script's standard error unless it exits 0.
"""

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def run_pure_python(name, *args, timeout=600):
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    result = subprocess.run([sys.executable, str(TESTS / name), *map(str, args)], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-4000:]
    return result
