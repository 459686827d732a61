"""reference/study.py runs end to end and writes every figure it announces."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ["1_tree_path.png", "2_path_lengths.png", "3_score_curve.png",
           "4_explanation.png", "5_importances.png"]


@pytest.mark.slow  # a fresh process compiles the explain kernels: ~10 s cold
@pytest.mark.parametrize("how", [["-m", "reference.study"], ["reference/study.py"]])
def test_study_writes_its_figures(tmp_path, how):
    out = tmp_path / "study"
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    run = subprocess.run([sys.executable, *how, "--out", str(out)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    for name in FIGURES:
        path = out / name
        assert path.exists(), name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"-> {path}" in run.stdout  # each figure is announced and described
    for section in ("[1]", "[2]", "[3]", "[4]", "[5]"):
        assert section in run.stdout
    assert "leaf at depth" in run.stdout
