"""Running one of scikit-learn's own test modules against isoforest.

Shared by ``test_sklearn_suite.py`` (Isolation Forest) and
``test_lof_sklearn_suite.py`` (LOF): each rewrites the module's import and calls
:func:`write_suite` to lay it out in a temporary directory with its own conftest.
"""

import os


def seeds():
    """Seeds for ``global_random_seed``: 0 and 42, or scikit-learn's own
    ``SKLEARN_TESTS_GLOBAL_RANDOM_SEED`` setting ("all", "a-b" or an int)."""
    value = os.environ.get("SKLEARN_TESTS_GLOBAL_RANDOM_SEED", "").strip()
    if not value:
        return [0, 42]
    if value == "all":
        return list(range(100))
    if "-" in value:
        lo, hi = (int(v) for v in value.split("-"))
        return list(range(lo, hi + 1))
    return [int(value)]


def write_suite(tmp_path, source, filename, conftest):
    """Write the rewritten test module, a conftest (``SEEDS`` first) and an empty
    pytest.ini; returns the module's path."""
    (tmp_path / filename).write_text(source)
    (tmp_path / "conftest.py").write_text(f"SEEDS = {seeds()!r}\n" + conftest)
    # An empty ini file makes tmp_path the rootdir, so this project's pytest
    # settings (testpaths, addopts) do not apply to the inner run.
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    return tmp_path / filename
