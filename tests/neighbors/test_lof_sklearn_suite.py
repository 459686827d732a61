"""Run scikit-learn's own LocalOutlierFactor test module against isoforest.

``sklearn/neighbors/tests/neighbors/test_lof.py`` ships in the scikit-learn wheel. At test time
it is copied to a temporary directory and its ``from sklearn import metrics,
neighbors`` is rewritten so that ``neighbors`` is a namespace holding only
isoforest's ``LocalOutlierFactor`` (any other use of ``sklearn.neighbors`` would fail
loudly instead of silently testing scikit-learn). A ``conftest.py`` supplies the
``global_dtype`` fixture (scikit-learn runs float32 only on request; we always run
float32 and float64) and ``global_random_seed`` (0 and 42, or scikit-learn's
``SKLEARN_TESTS_GLOBAL_RANDOM_SEED``), and pytest runs it in a subprocess.

The module reaches into two private names, ``_fit_X`` (the training data) and
``_predict()`` (labels of the training rows); isoforest's estimator keeps both with
the same meaning, so no test is deselected. ``DESELECTED`` is where one would go,
with its reason.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from _sklearn_suite import write_suite

sklearn = pytest.importorskip("sklearn")

SKLEARN_TEST = Path(sklearn.__file__).parent / "neighbors" / "tests" / "test_lof.py"

IMPORT_FROM = "from sklearn import metrics, neighbors\n"
IMPORT_TO = (
    "from sklearn import metrics\n"
    "import types as _types\n"
    "from isoforest.neighbors._lof import LocalOutlierFactor as _IsoforestLOF\n"
    "neighbors = _types.SimpleNamespace(LocalOutlierFactor=_IsoforestLOF)\n"
)

#: Tests deselected, each with the reason (only tests that inspect scikit-learn's
#: private internals belong here). None is needed today.
DESELECTED = {}

CONFTEST = textwrap.dedent(
    '''
    import numpy as np
    import pytest


    def pytest_configure(config):
        config.addinivalue_line(
            "markers", "thread_unsafe: scikit-learn marker (free-threading runs)"
        )


    def pytest_collection_modifyitems(config, items):
        # Guard against a silent no-op rewrite: the module under test must be
        # exercising isoforest's estimator, not scikit-learn's.
        for item in items:
            cls = item.module.neighbors.LocalOutlierFactor
            assert cls.__module__.startswith("isoforest"), cls.__module__


    @pytest.fixture(params=[np.float32, np.float64])
    def global_dtype(request):
        """scikit-learn's fixture (it runs float32 only when asked to)."""
        return request.param


    @pytest.fixture(params=SEEDS)
    def global_random_seed(request):
        """scikit-learn's fixture (its default seed is 42)."""
        return request.param
    '''
)


def _prepare(tmp_path):
    source = SKLEARN_TEST.read_text()
    assert IMPORT_FROM in source, "scikit-learn's test module changed its import"
    source = source.replace(IMPORT_FROM, IMPORT_TO)
    return write_suite(tmp_path, source, "test_lof.py", CONFTEST)


def test_sklearn_lof_suite(tmp_path):
    if not SKLEARN_TEST.exists():
        pytest.skip(f"{SKLEARN_TEST} not shipped with this scikit-learn")
    test_file = _prepare(tmp_path)
    source = test_file.read_text()
    assert "from isoforest.neighbors._lof import LocalOutlierFactor" in source
    for name in DESELECTED:
        assert f"def {name}(" in source, f"{name} is no longer in scikit-learn's tests"

    cmd = [sys.executable, "-m", "pytest", str(test_file), "-q", "-rfEs",
           "-p", "no:cacheprovider"]
    if DESELECTED:
        cmd += ["-k", " and ".join(f"not {name}" for name in DESELECTED)]
    env = dict(os.environ)
    repo_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (repo_root, env.get("PYTHONPATH")) if p)
    proc = subprocess.run(
        cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1800
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    # The rewrite really ran isoforest: the inner run collected and passed tests.
    assert " passed" in output, output
    assert " failed" not in output, output
