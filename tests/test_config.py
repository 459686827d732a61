"""One configuration: ``get_config`` / ``set_config`` / ``config_context``, the
environment read once with one rule, and ``show_config``'s report of the paths."""

import io
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import isoforest
from isoforest import config_context, get_config, set_config, show_config

SETTINGS = {"cache", "simd", "amx", "lof_symmetric", "lof_tiles", "arrow", "arrow_threads",
            "csv_block", "arrow_block", "batch_rows", "hold_bytes", "max_record_bytes",
            "gemm_block"}


def in_fresh_process(code, **env):
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, env=dict(os.environ, **env))
    return res


def test_defaults_and_keys():
    config = get_config()
    assert set(config) == SETTINGS
    assert config["simd"] is True and config["arrow_threads"] is False
    assert config["csv_block"] == 4 << 20 and config["hold_bytes"] == 256 << 20
    assert config["max_record_bytes"] == 16 << 20 and config["gemm_block"] == 1 << 20


@pytest.mark.parametrize("text, value", [("0", False), ("false", False), ("No", False),
                                         ("OFF", False), ("1", True), ("true", True),
                                         ("yes", True), (" On ", True), ("", True)])
def test_one_rule_for_flags(text, value):
    res = in_fresh_process("import isoforest; c = isoforest.get_config(); "
                           "print(c['simd'], c['arrow'])",
                           ISOFOREST_SIMD=text, ISOFOREST_ARROW=text)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == [str(value), str(value)]


@pytest.mark.parametrize("name, text", [("ISOFOREST_SIMD", "maybe"),
                                        ("ISOFOREST_CSV_BLOCK", "0"),
                                        ("ISOFOREST_HOLD_BYTES", "-1"),
                                        ("ISOFOREST_HOLD_BYTES", "lots")])
def test_bad_environment_refused_naming_the_variable(name, text):
    res = in_fresh_process("import isoforest", **{name: text})
    assert res.returncode != 0
    assert f"{name}={text!r}" in res.stderr


def test_sizes_from_the_environment():
    res = in_fresh_process("import isoforest; c = isoforest.get_config(); "
                           "print(c['batch_rows'], c['hold_bytes'])",
                           ISOFOREST_BATCH_ROWS="64", ISOFOREST_HOLD_BYTES="0")
    assert res.stdout.split() == ["64", "0"]


def test_config_context_restores_and_is_per_thread():
    before = get_config()
    seen = {}

    def other():
        seen["simd"] = get_config()["simd"]

    with config_context(simd=False, csv_block=10):
        assert get_config()["simd"] is False and get_config()["csv_block"] == 10
        t = threading.Thread(target=other)
        t.start()
        t.join()
        with config_context(simd=True):
            assert get_config()["simd"] is True
        assert get_config()["simd"] is False
    assert get_config() == before
    assert seen["simd"] is True  # another thread keeps the global settings


def test_config_context_restores_after_an_exception():
    before = get_config()
    with pytest.raises(RuntimeError):
        with config_context(arrow=False):
            raise RuntimeError
    assert get_config() == before


def test_set_config_changes_and_reverts():
    try:
        set_config(hold_bytes=123)
        assert get_config()["hold_bytes"] == 123
        seen = {}
        t = threading.Thread(target=lambda: seen.update(get_config()))
        t.start()
        t.join()
        assert seen["hold_bytes"] == 123  # a thread started after sees it
    finally:
        set_config(hold_bytes=256 << 20)
    assert get_config()["hold_bytes"] == 256 << 20


@pytest.mark.parametrize("changes, error, match", [
    ({"simd_level": 2}, TypeError, "unexpected keyword argument 'simd_level'"),
    ({"simd": "no"}, TypeError, "simd must be a bool"),
    ({"csv_block": 0}, ValueError, "csv_block must be an integer >= 1"),
    ({"csv_block": 1.5}, ValueError, "csv_block must be an integer >= 1"),
    ({"hold_bytes": -1}, ValueError, "hold_bytes must be an integer >= 0"),
    ({"cache": False}, ValueError, "ISOFOREST_CACHE"),
])
def test_bad_settings_refused(changes, error, match):
    before = get_config()
    with pytest.raises(error, match=match):
        set_config(**changes)
    with pytest.raises(error, match=match):
        with config_context(**changes):
            pass
    assert get_config() == before


def test_the_simd_setting_is_read_at_each_call():
    """Scores are the same bits on either path; where the CPU has the vector
    kernel, the setting switches it off and on without a restart."""
    from isoforest._simd import forest_walk as _simd

    X = np.random.RandomState(0).randn(2000, 5)
    model = isoforest.IsolationForest(n_estimators=20, random_state=0).fit(X)
    on = model.score_samples(X)
    with config_context(simd=False):
        assert not _simd.available()
        off = model.score_samples(X)
    np.testing.assert_array_equal(on, off)


def test_the_arrow_setting_picks_the_parser():
    from isoforest.io._tabular import have_arrow

    with config_context(arrow=False):
        assert not have_arrow()


def test_show_config_names_versions_cpu_settings_and_paths():
    out = io.StringIO()
    show_config(file=out)
    text = out.getvalue()
    assert f"isoforest {isoforest.__version__}" in text
    assert f"numpy {np.__version__}" in text
    for line in ("cpu: ", "threads: ", "config: ", "kernel paths:",
                 "IsolationForest.score_samples: ", "LocalOutlierFactor (training rows): ",
                 "CSV numbers: "):
        assert line in text, line
    with config_context(simd=False, arrow=False):
        out = io.StringIO()
        show_config(file=out)
    assert "IsolationForest.score_samples: Numba scalar walk" in out.getvalue()
    assert "CSV numbers: NumPy's parser" in out.getvalue()


def test_show_config_changes_nothing():
    code = ("import sys, io, numba, isoforest; isoforest.show_config(file=io.StringIO()); "
            "from numba.np.ufunc import parallel; "
            "import isoforest._simd._ir as ir; "
            "print(getattr(parallel, '_is_initialized', False), ir._AMX_GRANTED, "
            "'pyarrow' in sys.modules, 'pika' in sys.modules)")
    res = in_fresh_process(code)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["False", "None", "False", "False"]
