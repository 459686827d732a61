"""docs/workflows.md runs as it reads: its Python blocks, in order, in a fresh
interpreter (a real subprocess, matplotlib without a window), and each workflow prints
what the page says it shows. So does the README's "Ten lines" block, whose comments
say what each line gives."""

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


def test_readme_ten_lines_give_what_their_comments_say(tmp_path):
    """The README's first example, run as it reads, then checked: the shapes its
    comments give, scikit-learn's labels, and scikit-learn's trees and scores bit
    for bit for the same random_state."""
    pytest.importorskip("sklearn")
    block = re.search(r"## Ten lines\n\n```python\n(.*?)```",
                      (ROOT / "README.md").read_text(), re.S)
    assert block, "the README has no Ten lines block"
    checks = """
from sklearn.ensemble import IsolationForest as SkIsolationForest
assert scores.shape == (1050,) and labels.shape == (1050,)
assert set(labels.tolist()) == {-1, 1}
assert depths.shape == (5, 100), depths.shape
n = clf.max_samples_  # the score is 2 ** -(mean depth / c(n)), as in the paper
c = 2.0 * (np.log(n - 1.0) + np.euler_gamma) - 2.0 * (n - 1.0) / n
np.testing.assert_allclose(-(2.0 ** (-depths.mean(1) / c)), scores[:5], rtol=1e-12)
sk = SkIsolationForest(n_estimators=100, random_state=0).fit(X)
assert np.array_equal(scores, sk.score_samples(X))
assert np.array_equal(labels, sk.predict(X))
for name in ("feature", "threshold", "children_left", "children_right"):
    assert np.array_equal(getattr(tree, name), getattr(sk.estimators_[0].tree_, name))
print("ten lines: as the README says")
"""
    script = tmp_path / "ten_lines.py"
    script.write_text(block.group(1) + checks)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "ten lines: as the README says" in result.stdout
