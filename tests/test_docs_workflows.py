"""docs/workflows.md runs as it reads: its Python blocks, in order, in a fresh
interpreter (a real subprocess, matplotlib without a window), and each workflow prints
what the page says it shows."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "workflows.md"


def blocks():
    return re.findall(r"```python\n(.*?)```", PAGE.read_text(), re.S)


def test_the_page_has_its_six_workflows():
    assert len(blocks()) == 7  # the data, then one block per workflow


def test_every_block_runs_in_order(tmp_path):
    for module in ("pandas", "sklearn", "matplotlib"):
        pytest.importorskip(module)
    script = tmp_path / "workflows.py"
    script.write_text("\n".join(blocks()))
    env = dict(os.environ, MPLBACKEND="Agg")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    # the z-score rule finds the far-off rows and none of those off the correlation
    assert re.search(r"20 of the 20 far off, 0 of the 20 off the correlation", out)
    assert re.search(r"LOF flags \d+ rows", out) and "new rows: [-1 -1 -1]" in out
    assert re.search(r"Isolation Forest flags 40 rows", out)
    assert re.search(r"monitor: \d+ alerts in 501 readings", out)
    assert "columns: ['temp', 'pressure', 'flow']" in out
    assert re.search(r"precision \d\.\d\d, recall \d\.\d\d, F1 \d\.\d\d", out)
    assert "boundary drawn: True" in out
