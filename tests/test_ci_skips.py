"""Under CI a skip is a failure unless the host lacks a CPU feature (conftest.py);
the property tests are derandomized, and the seeded fuzzers keep their seeds,
except under ``make fuzz``."""

from pathlib import Path

import pytest

CONFTEST = (Path(__file__).parent / "conftest.py").read_text()
FUZZ = (Path(__file__).parent / "_fuzz.py").read_text()
SOURCE = """
import pytest

def test_needs_a_package():
    pytest.importorskip("a_package_that_is_not_installed")

def test_needs_avx512():
    pytest.skip("the vector kernel needs AVX-512 and Numba's JIT")

@pytest.mark.xfail(reason="known")
def test_known():
    assert False
"""


@pytest.mark.parametrize("ci, failed, skipped", [("true", 1, 1), (None, 0, 2)])
def test_skips_fail_under_ci(pytester, monkeypatch, ci, failed, skipped):
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(_fuzz=FUZZ)
    pytester.makepyfile(SOURCE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=failed, skipped=skipped, xfailed=1)


def test_a_module_skipped_at_collection_fails_under_ci(pytester, monkeypatch):
    monkeypatch.setenv("CI", "true")
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(_fuzz=FUZZ)
    pytester.makepyfile('import pytest\npytest.importorskip("not_installed_here")\n'
                        'def test_x():\n    pass\n')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*module skipped under CI*not_installed_here*"])


PROPERTY = """
import pytest
from hypothesis import given, settings, strategies as st
from _fuzz import examples, seed

@given(st.just(0))
def test_profile(_):
    assert settings.default.derandomize is {derandomize}
    assert settings.default.deadline is None
    assert examples(10) == {scaled}

@settings(max_examples=examples(3))
@given(st.integers())
def test_property(x):
    pass

def test_plain():
    pass

@pytest.mark.fuzz
def test_seeded_fuzzer():
    assert (seed(7) == 7) is {fixed}
"""


@pytest.mark.parametrize("fuzz, derandomize, scaled, fixed, passed, deselected",
                         [(None, True, 10, True, 4, 0), ("4", False, 40, False, 3, 1)])
def test_property_tests_derandomized_unless_fuzzing(pytester, monkeypatch, fuzz,
                                                    derandomize, scaled, fixed, passed,
                                                    deselected):
    if fuzz is None:
        monkeypatch.delenv("ISOFOREST_FUZZ", raising=False)
    else:
        monkeypatch.setenv("ISOFOREST_FUZZ", fuzz)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(_fuzz=FUZZ)
    pytester.makepyfile(PROPERTY.format(derandomize=derandomize, scaled=scaled,
                                        fixed=fixed))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    # under make fuzz only the property tests and the seeded fuzzers run
    result.assert_outcomes(passed=passed, deselected=deselected)
