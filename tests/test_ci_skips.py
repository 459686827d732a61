"""Under CI a skip is a failure unless the host lacks a CPU feature (conftest.py)."""

from pathlib import Path

import pytest

CONFTEST = (Path(__file__).parent / "conftest.py").read_text()
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
    pytester.makepyfile(SOURCE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=failed, skipped=skipped, xfailed=1)


def test_a_module_skipped_at_collection_fails_under_ci(pytester, monkeypatch):
    monkeypatch.setenv("CI", "true")
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile('import pytest\npytest.importorskip("not_installed_here")\n'
                        'def test_x():\n    pass\n')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*module skipped under CI*not_installed_here*"])
