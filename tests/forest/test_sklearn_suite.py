"""Run scikit-learn's own IsolationForest test module against isoforest.

``sklearn/ensemble/tests/test_iforest.py`` ships in the scikit-learn wheel. At test
time it is copied to a temporary directory, its ``from sklearn.ensemble import
IsolationForest`` is rewritten to ``from isoforest import IsolationForest``, a
``conftest.py`` supplies the ``global_random_seed`` fixture (scikit-learn's default
seed is 42; we also run 0) and registers the ``thread_unsafe`` marker, and pytest
runs it in a subprocess.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from _sklearn_suite import write_suite

sklearn = pytest.importorskip("sklearn")

SKLEARN_TEST = Path(sklearn.__file__).parent / "ensemble" / "tests" / "test_iforest.py"

IMPORT_FROM = "from sklearn.ensemble import IsolationForest\n"
IMPORT_TO = "from isoforest import IsolationForest\n"

# scikit-learn's private path-length helper is rewritten to isoforest's, so
# test_iforest_average_path_length checks isoforest's c(n) instead of re-testing
# scikit-learn's.
HELPER_FROM = "from sklearn.ensemble._iforest import _average_path_length\n"
HELPER_TO = "from isoforest.forest._arrays import average_path_length as _average_path_length\n"

#: Tests deselected, each with the reason. Only tests that inspect scikit-learn's
#: private helpers are here.
DESELECTED = {
    # Both patch sklearn.ensemble._iforest.get_chunk_n_rows and count its calls:
    # isoforest never calls scikit-learn's chunking helper (it chunks with its own
    # CHUNK_ROWS), so the mock is called 0 times and the call-count assertion is
    # about scikit-learn's internals, not about the scores.
    "test_iforest_chunks_works1": "patches sklearn.ensemble._iforest.get_chunk_n_rows",
    "test_iforest_chunks_works2": "patches sklearn.ensemble._iforest.get_chunk_n_rows",
}

CONFTEST = textwrap.dedent(
    '''
    import pytest


    def pytest_configure(config):
        config.addinivalue_line(
            "markers", "thread_unsafe: scikit-learn marker (free-threading runs)"
        )


    def pytest_collection_modifyitems(config, items):
        # Guard against a silent no-op rewrite: the module under test must be
        # exercising isoforest's estimator, not scikit-learn's.
        for item in items:
            cls = item.module.IsolationForest
            assert cls.__module__.startswith("isoforest"), cls.__module__


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
    if HELPER_FROM in source:
        source = source.replace(HELPER_FROM, HELPER_TO)
    return write_suite(tmp_path, source, "test_iforest.py", CONFTEST)


def test_sklearn_iforest_suite(tmp_path):
    if not SKLEARN_TEST.exists():
        pytest.skip(f"{SKLEARN_TEST} not shipped with this scikit-learn")
    test_file = _prepare(tmp_path)
    source = test_file.read_text()
    assert "from isoforest import IsolationForest" in source
    for name in DESELECTED:
        assert f"def {name}(" in source, f"{name} is no longer in scikit-learn's tests"

    deselect_expr = " and ".join(f"not {name}" for name in DESELECTED)
    cmd = [
        sys.executable, "-m", "pytest", str(test_file),
        "-q", "-rfEs", "-p", "no:cacheprovider",
        "-k", deselect_expr,
    ]
    env = dict(os.environ)
    repo_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (repo_root, env.get("PYTHONPATH")) if p
    )
    proc = subprocess.run(
        cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1800
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    # The rewrite really ran isoforest: sanity check the inner run collected tests.
    assert " passed" in output, output
