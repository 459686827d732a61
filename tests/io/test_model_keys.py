"""Signed model files: ``save_model(..., key=...)`` / ``load_model(..., key=...)`` and
``--key-file`` on the command line. With a key, a file that anyone without it wrote
or changed is refused, even when the forger recomputed every array's sha256 (which
anyone can); without a key the checksums only catch damage, and any file that loads
is still safe to score."""

import subprocess
import sys

import numpy as np
import pytest

from isoforest import IsolationForest, ZScoreDetector, load_model, save_model
from isoforest.io._model_files import SIGNATURE, ModelFileError
from _model_parts import read_parts, write_parts

KEY = b"a secret \x00 of any bytes"


@pytest.fixture(scope="module")
def fitted():
    X = np.random.RandomState(0).randn(400, 3)
    return IsolationForest(n_estimators=20, random_state=0).fit(X), X


def forge(path, out, edit):
    """What someone without the key can do: edit the arrays, recompute their
    sha256 in the metadata, keep (or drop) the signature."""
    entries, meta = read_parts(path)
    edit(entries)
    return write_parts(out, entries, meta, unsigned=(SIGNATURE,))


def test_signed_file_loads_with_its_key_only(tmp_path, fitted):
    model, X = fitted
    path = tmp_path / "m.iso"
    save_model(model, path, key=KEY)
    for key in (KEY, KEY.decode("latin-1").encode("latin-1")):
        assert np.array_equal(load_model(path, key=key).score_samples(X),
                              model.score_samples(X))
    assert np.array_equal(load_model(path).score_samples(X), model.score_samples(X))
    with pytest.raises(ModelFileError, match="not signed with this key"):
        load_model(path, key=b"another secret")
    save_model(model, tmp_path / "s.iso", key="a str key")  # str keys are UTF-8
    load_model(tmp_path / "s.iso", key="a str key".encode())


def test_unsigned_file_is_refused_when_a_key_is_given(tmp_path, fitted):
    model, _ = fitted
    save_model(model, tmp_path / "m.iso")
    load_model(tmp_path / "m.iso")
    with pytest.raises(ModelFileError, match="is not signed"):
        load_model(tmp_path / "m.iso", key=KEY)


def test_forged_file_is_refused_with_the_key(tmp_path, fitted):
    """Thresholds moved and the digests recomputed: the checksums pass, the
    signature does not. Stripping the signature does not help either."""
    model, X = fitted
    path = tmp_path / "m.iso"
    save_model(model, path, key=KEY)

    def shift(entries):
        entries["threshold"] = entries["threshold"] + 0.5

    forged = forge(path, tmp_path / "f.iso", shift)
    with pytest.raises(ModelFileError, match="not signed with this key"):
        load_model(forged, key=KEY)
    # without a key it loads (the promise is only that it is safe to score)
    assert not np.array_equal(load_model(forged).score_samples(X), model.score_samples(X))
    stripped = forge(path, tmp_path / "g.iso", lambda e: e.pop(SIGNATURE))
    with pytest.raises(ModelFileError, match="is not signed"):
        load_model(stripped, key=KEY)
    bad_sig = forge(path, tmp_path / "h.iso",
                    lambda e: e.__setitem__(SIGNATURE, e[SIGNATURE][:16]))
    with pytest.raises(ModelFileError, match="not signed with this key"):
        load_model(bad_sig, key=KEY)


def test_bad_keys_are_refused(tmp_path):
    model = ZScoreDetector().fit(np.random.RandomState(0).randn(50, 2))
    with pytest.raises(TypeError, match="key must be bytes or str"):
        save_model(model, tmp_path / "m.iso", key=123)
    with pytest.raises(ValueError, match="key must not be empty"):
        save_model(model, tmp_path / "m.iso", key=b"")
    assert not (tmp_path / "m.iso").exists()


# ------------------------------------------------------------------- command line

def run_cli(*args, cwd, input=None):
    return subprocess.run([sys.executable, "-m", "isoforest", *map(str, args)], cwd=cwd,
                          input=input, capture_output=True, text=True, timeout=120)


def test_key_file_on_the_command_line(tmp_path):
    rng = np.random.RandomState(1)
    (tmp_path / "d.csv").write_text(
        "a,b\n" + "".join(f"{a!r},{b!r}\n" for a, b in rng.randn(300, 2).tolist()))
    (tmp_path / "k").write_bytes(KEY)
    (tmp_path / "other").write_bytes(b"not the key")
    res = run_cli("fit", "d.csv", "--model", "m.iso", "--key-file", "k", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    load_model(tmp_path / "m.iso", key=KEY)
    res = run_cli("score", "m.iso", "d.csv", "--out", "o.csv", "--key-file", "k",
                  cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    for args, words in [(("--key-file", "other"), "not signed with this key"),
                        (("--key-file", "missing"), "--key-file missing: No such file")]:
        res = run_cli("score", "m.iso", "d.csv", "--out", "o2.csv", *args, cwd=tmp_path)
        assert res.returncode == 1 and words in res.stderr, res.stderr
        assert not (tmp_path / "o2.csv").exists()
        res = run_cli("stream", "--model", "m.iso", *args, cwd=tmp_path, input="1,2\n")
        assert res.returncode == 1 and words in res.stderr, res.stderr


def test_learning_stream_checkpoints_are_signed(tmp_path):
    (tmp_path / "k").write_bytes(KEY)
    (tmp_path / "other").write_bytes(b"not the key")
    feed = "x\n" + "".join(f"{v}\n" for v in np.sin(np.arange(300) / 9.0))
    args = ("stream", "--method", "hst", "--trees", "3", "--state", "s.iso")
    res = run_cli(*args, "--key-file", "k", cwd=tmp_path, input=feed)
    assert res.returncode == 0, res.stderr
    load_model(tmp_path / "s.iso", key=KEY)
    res = run_cli(*args, "--key-file", "other", cwd=tmp_path, input=feed)
    assert res.returncode == 1 and "not signed with this key" in res.stderr, res.stderr
    res = run_cli(*args, "--key-file", "k", cwd=tmp_path, input=feed)
    assert res.returncode == 0, res.stderr
