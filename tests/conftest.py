"""Shared pytest setup.

Puts the repository root on ``sys.path`` so tests can import the naive twins in
``reference/`` (``from reference.iforest_naive import ...``) however pytest is run.

Under CI (``CI`` set) a skipped test fails, unless its reason is one of
``EXPECTED_SKIPS``: the host lacks a CPU feature a kernel needs, or the case does
not exist (a parameter combination the reference refuses). A missing package,
service or data set is then a failure, not a silent pass.

The property tests (hypothesis) run under the profile ``isoforest``, derandomized, so
CI sees the same examples every run. ``make fuzz`` sets ``ISOFOREST_FUZZ=K``: the
profile is then ``isoforest-fuzz`` (fresh random examples), each test draws K times
its examples (``_fuzz.examples``), and only the property tests and the seeded
fuzzers marked ``fuzz`` run (failures are kept in ``.hypothesis/`` and printed with
the example that fails; a seeded fuzzer prints its seed).
"""

import os
import sys
from pathlib import Path

import pytest
from hypothesis import is_hypothesis_test, settings

from _fuzz import FUZZING

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

pytest_plugins = ["pytester"]

# loaded before the test modules are imported, so every @settings inherits it
settings.register_profile("isoforest", derandomize=True, deadline=None)
settings.register_profile("isoforest-fuzz", derandomize=False, deadline=None)
settings.load_profile("isoforest-fuzz" if FUZZING else "isoforest")

EXPECTED_SKIPS = (
    "AVX-512",  # the vector kernels on a CPU without AVX-512F
    "AMX-BF16",  # the bfloat16 tiles on a CPU without AMX
    "SCIPY_ARRAY_API is not set",  # scikit-learn's own array-API checks
    "scikit-learn refuses these parameters",
    "no row would be drawn",
    "max_features > n_features is an error",
)


def _reason(report):
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


def _unexpected_skip(report):
    return (os.environ.get("CI") and report.skipped and not hasattr(report, "wasxfail")
            and not any(s in _reason(report) for s in EXPECTED_SKIPS))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if _unexpected_skip(report):
        report.outcome = "failed"
        report.longrepr = f"skipped under CI (a missing package, service or data set?): " \
                          f"{_reason(report)}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    if _unexpected_skip(report):
        report.outcome = "failed"
        report.longrepr = f"module skipped under CI: {_reason(report)}"


@pytest.fixture
def configured():
    """``configured(name=value, ...)`` enters ``isoforest.config_context`` for the rest
    of the test (on its thread), so tests set switches instead of patching globals."""
    import contextlib

    from isoforest import config_context

    with contextlib.ExitStack() as stack:
        yield lambda **values: stack.enter_context(config_context(**values))


def pytest_collection_modifyitems(config, items):
    if not FUZZING:
        return
    keep, drop = [], []
    for item in items:
        fuzzer = item.get_closest_marker("fuzz") is not None
        (keep if fuzzer or is_hypothesis_test(getattr(item, "obj", None)) else drop).append(item)
    config.hook.pytest_deselected(items=drop)
    items[:] = keep
