"""Tables in and out (``isoforest/io/_tabular.py``): the CSV kernels against Python's
csv module, and the command line through real subprocesses and pipes.

Every CSV case runs twice: numbers parsed by pyarrow and by the NumPy path
(``ISOFOREST_ARROW=0``), which must give the same bytes. ``ISOFOREST_CSV_BLOCK``
forces tiny chunks, whose output must equal the whole file's byte for byte.
"""

import csv
import io
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from _fuzz import examples

from isoforest import IsolationForest, ZScoreDetector, load_model
from isoforest.io._tabular import CsvReader, float_lines, format_floats
from isoforest.io._tabular_kernels import join_scored, scored_size
from reference.tabular_naive import float_lines as float_lines_naive
from reference.tabular_naive import join_scored as join_scored_naive
from reference.tabular_naive import records as records_naive

TIMEOUT = 120
PARSERS = {"arrow": {}, "numpy": {"ISOFOREST_ARROW": "0"}}


def run_cli(*args, cwd, input=None, env=None):
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", "isoforest", *map(str, args)], cwd=cwd,
                          input=input, capture_output=True, timeout=TIMEOUT, env=full_env)


def has_pyarrow():
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


needs_arrow = pytest.mark.skipif(not has_pyarrow(), reason="pyarrow not installed")

# ------------------------------------------------------------------ a nasty table

# records as raw bytes: quotes, embedded delimiters, a quoted newline, unicode, CRLF,
# needless quotes around a number, odd number spellings, missing values
NASTY_LINES = [
    b'id,name,a,b,note',
    b'0,plain,1.5,2,hello',
    b'1,"with, comma",-0.25,1e3,"say ""hi"""',
    b'2,"two\nlines",3,-4.0,x',
    b'3,caf\xc3\xa9 \xe2\x82\xac,0.000001,5,"\xe6\x97\xa5\xe6\x9c\xac"',
    b'4,crlf,7,8,end\r',
    b'5,quoted num,"9.5",1,',
    b'6,spaces, 2.5 ,NA,z',
    b'7,under,1_000,?,z',
    b'8,infinity,inf,3,z',
]
NASTY = b"\n".join(NASTY_LINES) + b"\n"
NASTY_A = [1.5, -0.25, 3, 0.000001, 7, 9.5, 2.5, 1000, np.inf]
NASTY_B = [2, 1e3, -4.0, 5, 8, 1, np.nan, np.nan, 3]


def data_records(lines):
    """The data records' bytes, without the terminator (CR included in it)."""
    return [ln[:-1] if ln.endswith(b"\r") else ln for ln in lines[1:]]


def out_lines(out):
    """Split output bytes into records (quote-aware: the embedded newline)."""
    text = out.decode("utf-8")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    return rows


# --------------------------------------------------------------- kernels vs twin

field = st.one_of(
    st.text(alphabet='ab ,"\n\r1.é', max_size=6),
    st.sampled_from(["", "1.5", '"', '""', "a\r\nb", " x "]),
)


@pytest.mark.kernels
@settings(max_examples=examples(150))
@given(table=st.integers(1, 4).flatmap(lambda w: st.lists(
           st.lists(field, min_size=w, max_size=w), max_size=6).map(lambda r: (w, r))),
       crlf=st.booleans(), final_newline=st.booleans(), block=st.integers(3, 40))
def test_scan_matches_csv_module(table, crlf, final_newline, block, tmp_path_factory):
    """Records, fields and line numbers of the scanner == csv.reader's, in any
    chunking (records are cut only at their ends)."""
    width, rows = table
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n" if crlf else "\n").writerows(
        [[f"h{j}" for j in range(width)]] + rows)
    data = buf.getvalue().encode()
    if not final_newline:
        data = data[:-2] if data.endswith(b"\r\n") else data[:-1]
    expected = records_naive(data)
    path = tmp_path_factory.mktemp("scan") / "t.csv"
    path.write_bytes(data)
    if any(len(r[0]) != width for r in expected):  # e.g. a lone CR csv.writer left bare
        with pytest.raises(Exception, match="fields"):
            list(CsvReader(str(path), block_size=block, arrow=False).chunks())
        return
    reader = CsvReader(str(path), block_size=block, arrow=False)
    assert reader.header == expected[0][0]
    got = []
    for chunk in reader.chunks():
        for i in range(chunk.n):
            got.append(([reader._field_text(chunk, i, j) for j in range(width)],
                        int(chunk.rec_line[i])))
    assert [(r[0], r[1]) for r in expected[1:]] == got


@pytest.mark.kernels
def test_scan_ragged_and_unclosed_quote(tmp_path):
    (tmp_path / "r.csv").write_bytes(b"a,b\n1,2\n3\n")
    with pytest.raises(Exception, match="line 3: 1 fields"):
        list(CsvReader(str(tmp_path / "r.csv"), arrow=False).chunks())
    (tmp_path / "q.csv").write_bytes(b'a,b\n1,2\n3,"open\n4,5\n')
    with pytest.raises(Exception, match="line 3: a quoted field never closes"):
        list(CsvReader(str(tmp_path / "q.csv"), arrow=False).chunks())


@pytest.mark.kernels
@settings(max_examples=examples(60))
@given(n=st.integers(0, 12), seed=st.integers(0, 1000))
def test_join_scored_matches_twin(n, seed):
    rng = np.random.RandomState(seed)
    recs = [bytes(rng.choice(list(b'ab",1'), rng.randint(0, 8))) for _ in range(n)]
    data = b"\n".join(recs) + b"\n"
    lo = np.cumsum([0] + [len(r) + 1 for r in recs])[:-1].astype(np.int64)
    hi = lo + np.array([len(r) for r in recs], dtype=np.int64)
    keep = rng.rand(n) < 0.8
    score = rng.rand(n)
    score[rng.rand(n) < 0.2] = np.nan
    flag = rng.randint(-2, 2, n).astype(np.int8)
    texts = format_floats(score)
    joined = ("\n".join(texts) + "\n").encode()
    ends = np.flatnonzero(np.frombuffer(joined, np.uint8) == 10)
    starts = np.concatenate([[0], ends[:-1] + 1]).astype(np.int64)
    out = np.empty(scored_size(lo, hi, keep, starts, ends, flag), np.uint8)
    k = join_scored(np.frombuffer(data, np.uint8), lo, hi, keep, 44,
                    np.frombuffer(joined, np.uint8), starts, ends, flag, out)
    assert k == out.shape[0]
    assert bytes(out) == join_scored_naive(recs, keep, ",", texts, flag.tolist())


# ------------------------------------------------------------ writing the scores


def _kernel_lines(values, **kw):
    """float_lines' bytes, checked against its own line offsets."""
    buf, starts = float_lines(values, **kw)
    assert starts[0] == 0 and starts[-1] == buf.shape[0]
    return buf.tobytes(), starts


@pytest.mark.kernels
@settings(max_examples=examples(300))
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True),
                max_size=40),
       st.booleans())
def test_float_lines_are_repr_for_any_float(values, nan_empty):
    buf, _ = _kernel_lines(values, nan_empty=nan_empty)
    assert buf == float_lines_naive(values, nan_empty=nan_empty)


@pytest.mark.kernels
@pytest.mark.parametrize("family", ["scores", "decisions", "wide", "decimals", "bits",
                                    "near_powers_of_ten", "specials"])
def test_float_lines_match_repr_byte_for_byte(family):
    rng = np.random.default_rng(7)
    p10 = 10.0 ** np.arange(-5, 17)
    v = {
        "scores": rng.uniform(0.3, 0.9, 20_000),        # -score_samples of a forest
        "decisions": rng.uniform(-0.2, 0.2, 20_000),   # decision_function, near 0 too
        "wide": np.exp(rng.uniform(np.log(1e-6), np.log(1e17), 20_000)),
        "decimals": np.round(rng.uniform(0, 1000, 20_000) * 10.0 ** (d := rng.integers(0, 8, 20_000)))
        / 10.0 ** d,
        "bits": rng.integers(0, 2 ** 63, 20_000, dtype=np.int64).view(np.float64),
        "near_powers_of_ten": np.concatenate(
            [p10 * (1 + k * 2.0 ** -52) for k in range(-6, 7)]
            + [np.nextafter(p10, 0), np.nextafter(p10, np.inf)]),
        "specials": np.array([0.0, -0.0, np.nan, np.inf, -np.inf, 5e-324, 2.2250738585072014e-308,
                              1e-4, 9.999999999999999e-05, 0.5, 0.25, 1.0, 2.0 ** 52,
                              2.0 ** 52 - 0.5, 2.0 ** 53, 1e16, 9999999999999998.0,
                              0.1, 0.2, 0.30000000000000004, 1 / 3, 123456789.125]),
    }[family]
    v = np.concatenate([v, -v])
    tails = (b",0\n", b",1\n")
    cls = rng.integers(0, 2, v.shape[0])
    buf, starts = _kernel_lines(v, tails=tails, cls=cls, nan_empty=False)
    assert buf == float_lines_naive(v, tails=tails, cls=cls, nan_empty=False)
    assert np.array_equal(np.diff(starts),
                          [len(repr(x)) + 3 for x in v.tolist()])


@pytest.mark.kernels
def test_float_lines_kernel_writes_the_scores_itself(monkeypatch):
    """The scores must not all be left to repr (that would pass the tests above
    while the stream runs at Python's speed): count the values handed back."""
    from isoforest.io import _tabular, _tabular_kernels

    handed_back = []
    kernel = _tabular_kernels.write_floats

    def counting(values, bits, nan_empty, tails, tail_len, cls, out, line_start, fallback):
        size = kernel(values, bits, nan_empty, tails, tail_len, cls, out, line_start, fallback)
        handed_back.append(int(fallback.sum()))
        return size

    monkeypatch.setattr(_tabular._tabular_kernels, "write_floats", counting)
    v = np.random.default_rng(0).uniform(1e-4, 1e15, 10_000) * np.sign(
        np.random.default_rng(1).standard_normal(10_000))
    assert _kernel_lines(v)[0] == float_lines_naive(v)
    assert handed_back == [0]
    assert format_floats(np.array([0.5, np.nan, 0.0])) == ["0.5", "", "0.0"]
    assert format_floats(np.array([])) == []


@pytest.mark.kernels
def test_float_lines_rejects_bad_classes():
    with pytest.raises(ValueError, match="cls"):
        float_lines(np.ones(3), tails=(b"\n",), cls=np.array([0, 1, 0]))
    with pytest.raises(ValueError, match="cls"):
        float_lines(np.ones(3), cls=np.zeros(2))


# ----------------------------------------------------------------- the CLI, CSV


@pytest.fixture(scope="module")
def nasty(tmp_path_factory):
    d = tmp_path_factory.mktemp("nasty")
    (d / "nasty.csv").write_bytes(NASTY)
    return d


@pytest.mark.parametrize("parser", list(PARSERS))
def test_passthrough_byte_exact_and_scores(nasty, parser):
    res = run_cli("detect", "nasty.csv", "--out", f"out_{parser}.csv", "--columns", "a,b",
                  "--missing", "keep", cwd=nasty, env=PARSERS[parser])
    assert res.returncode == 0, res.stderr.decode()
    out = (nasty / f"out_{parser}.csv").read_bytes()
    X = np.column_stack([NASTY_A, NASTY_B])
    model = IsolationForest(random_state=0).fit(X)
    expected_score = -model.score_samples(X)
    flags = (model.predict(X) == -1).astype(int)
    # every output record is its input record's bytes + ',score,flag'
    expect = NASTY_LINES[0] + b",anomaly_score,is_anomaly\n" + b"".join(
        rec + f",{float(s)!r},{f}\n".encode()
        for rec, s, f in zip(data_records(NASTY_LINES), expected_score, flags))
    assert out == expect


@pytest.mark.parametrize("parser", list(PARSERS))
def test_chunked_equals_whole(tmp_path, parser):
    """Tiny chunks (64 bytes: records split everywhere) give the same bytes."""
    rng = np.random.RandomState(0)
    lines = [b"x,t,y"] + [
        f'{v:.6f},"n{i}, q ""{i}""\n",{w!r}'.encode() if i % 7 == 0 else
        f"{v:.6f},n{i},{w!r}".encode()
        for i, (v, w) in enumerate(rng.randn(400, 2).tolist())
    ]
    (tmp_path / "d.csv").write_bytes(b"\n".join(lines) + b"\n")
    env = PARSERS[parser]
    whole = run_cli("detect", "d.csv", "--out", "whole.csv", cwd=tmp_path, env=env)
    assert whole.returncode == 0, whole.stderr.decode()
    tiny = run_cli("detect", "d.csv", "--out", "tiny.csv", cwd=tmp_path,
                   env=dict(env, ISOFOREST_CSV_BLOCK="64"))
    assert tiny.returncode == 0, tiny.stderr.decode()
    assert (tmp_path / "tiny.csv").read_bytes() == (tmp_path / "whole.csv").read_bytes()
    res = run_cli("fit", "d.csv", "--model", "m.npz", cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stderr.decode()
    for block, name in (("64", "s_tiny.csv"), ("4194304", "s_whole.csv")):
        res = run_cli("score", "m.npz", "d.csv", "--out", name, cwd=tmp_path,
                      env=dict(env, ISOFOREST_CSV_BLOCK=block))
        assert res.returncode == 0, res.stderr.decode()
    assert (tmp_path / "s_tiny.csv").read_bytes() == (tmp_path / "whole.csv").read_bytes()
    assert (tmp_path / "s_whole.csv").read_bytes() == (tmp_path / "whole.csv").read_bytes()
    if parser == "numpy":  # and the other parser wrote the very same bytes
        other = run_cli("detect", "d.csv", "--out", "arrow.csv", cwd=tmp_path)
        assert other.returncode == 0
        assert (tmp_path / "arrow.csv").read_bytes() == (tmp_path / "whole.csv").read_bytes()


@pytest.mark.parametrize("hold", ["0", "1000000000"], ids=["two-pass", "held"])
def test_detect_file_equals_stdin_equals_api(tmp_path, hold):
    """A file in two passes (a row source: the drawn rows read again) or held, and
    standard input (held): the very same bytes, and the Python API's scores."""
    rng = np.random.RandomState(1)
    X = rng.randn(300, 3)
    X[:5] *= 8
    text = "a,b,c,label\n" + "".join(f"{a!r},{b!r},{c!r},r{i}\n"
                                     for i, (a, b, c) in enumerate(X.tolist()))
    (tmp_path / "d.csv").write_text(text)
    res = run_cli("detect", "d.csv", "--out", "f.csv", "--contamination", "0.05",
                  cwd=tmp_path, env={"ISOFOREST_HOLD_BYTES": hold, "ISOFOREST_CSV_BLOCK": "999"})
    assert res.returncode == 0, res.stderr.decode()
    piped = run_cli("detect", "-", "--out", "-", "--contamination", "0.05", cwd=tmp_path,
                    input=text.encode(), env={"ISOFOREST_CSV_BLOCK": "100"})
    assert piped.returncode == 0, piped.stderr.decode()
    assert piped.stdout == (tmp_path / "f.csv").read_bytes()
    rows = out_lines(piped.stdout)[1:]
    model = IsolationForest(random_state=0, contamination=0.05).fit(X)
    np.testing.assert_array_equal([float(r[-2]) for r in rows], -model.score_samples(X))
    np.testing.assert_array_equal([int(r[-1]) for r in rows],
                                  (model.predict(X) == -1).astype(int))


@pytest.mark.parametrize("missing", ["drop", "keep"])
def test_two_pass_equals_held_with_missing_values(nasty, missing):
    outs = {}
    for hold in ("0", "1000000000"):
        name = f"tp_{missing}_{hold}.csv"
        res = run_cli("detect", "nasty.csv", "--out", name, "--columns", "a,b",
                      "--missing", missing, "--contamination", "0.2", cwd=nasty,
                      env={"ISOFOREST_HOLD_BYTES": hold})
        assert res.returncode == 0, res.stderr.decode()
        outs[hold] = (nasty / name).read_bytes()
    assert outs["0"] == outs["1000000000"]
    X = np.column_stack([NASTY_A, NASTY_B])
    complete = ~np.isnan(X).any(axis=1)
    Xfit = X[complete] if missing == "drop" else X
    model = IsolationForest(random_state=0, contamination=0.2).fit(Xfit)
    rows = out_lines(outs["0"])[1:]
    np.testing.assert_array_equal([float(r[-2]) for r in rows], -model.score_samples(Xfit))


def test_tsv_and_zscore_standardize(tmp_path):
    rng = np.random.RandomState(2)
    X = rng.randn(200, 2)
    (tmp_path / "d.tsv").write_text("a\tb\tname\n" + "".join(
        f"{a!r}\t{b!r}\tn, {i}\n" for i, (a, b) in enumerate(X.tolist())))
    res = run_cli("detect", "d.tsv", "--out", "o.tsv", "--method", "zscore",
                  "--standardize", cwd=tmp_path)
    assert res.returncode == 0, res.stderr.decode()
    lines = (tmp_path / "o.tsv").read_text().splitlines()
    assert lines[0] == "a\tb\tname\tanomaly_score\tis_anomaly"
    assert all(ln.split("\t")[2] == f"n, {i}" for i, ln in enumerate(lines[1:]))
    Z = (X - np.nanmean(X, axis=0)) / np.nanstd(X, axis=0)
    model = ZScoreDetector().fit(Z)
    np.testing.assert_array_equal([float(ln.split("\t")[3]) for ln in lines[1:]],
                                  -model.score_samples(Z))


# ------------------------------------------------------------ Parquet and Arrow


@needs_arrow
@pytest.mark.parametrize("ext", ["parquet", "arrow"])
def test_parquet_arrow_in_and_out(tmp_path, ext):
    import pyarrow as pa
    import pyarrow.feather as feather
    import pyarrow.parquet as pq

    rng = np.random.RandomState(3)
    X = rng.randn(250, 2)
    X[3, 1] = np.nan
    table = pa.table({"a": X[:, 0], "b": pa.array(X[:, 1], mask=np.isnan(X[:, 1])),
                      "n": pa.array(np.arange(250), pa.int64()),
                      "name": [f"row, {i}" for i in range(250)]})
    path = tmp_path / f"d.{ext}"
    pq.write_table(table, path) if ext == "parquet" else feather.write_feather(table, path)
    res = run_cli("detect", path.name, "--out", f"o.{ext}", "--columns", "a,b",
                  "--missing", "keep", cwd=tmp_path, env={"ISOFOREST_BATCH_ROWS": "64"})
    assert res.returncode == 0, res.stderr.decode()
    out = pq.read_table(tmp_path / f"o.{ext}") if ext == "parquet" else \
        feather.read_table(tmp_path / f"o.{ext}")
    assert out.column_names == ["a", "b", "n", "name", "anomaly_score", "is_anomaly"]
    assert out.column("name").to_pylist() == table.column("name").to_pylist()
    model = IsolationForest(random_state=0).fit(X)
    np.testing.assert_array_equal(out.column("anomaly_score").to_numpy(),
                                  -model.score_samples(X))
    # Parquet/Arrow in, CSV out; and CSV in, Parquet out
    res = run_cli("detect", path.name, "--out", "o.csv", "--columns", "a,b",
                  "--missing", "keep", cwd=tmp_path)
    assert res.returncode == 0, res.stderr.decode()
    rows = out_lines((tmp_path / "o.csv").read_bytes())
    assert rows[0] == ["a", "b", "n", "name", "anomaly_score", "is_anomaly"]
    assert [r[3] for r in rows[1:]] == table.column("name").to_pylist()
    np.testing.assert_array_equal([float(r[4]) for r in rows[1:]], -model.score_samples(X))
    (tmp_path / "in.csv").write_text("a,b,n,name\n" + "".join(
        f'{a!r},{"" if b != b else repr(b)},{i},"row, {i}"\n'
        for i, (a, b) in enumerate(X.tolist())))
    res = run_cli("detect", "in.csv", "--out", "back.parquet", "--columns", "a,b",
                  "--missing", "keep", cwd=tmp_path)
    assert res.returncode == 0, res.stderr.decode()
    back = pq.read_table(tmp_path / "back.parquet")
    assert back.column("name").to_pylist() == table.column("name").to_pylist()
    np.testing.assert_array_equal(back.column("anomaly_score").to_numpy(),
                                  -model.score_samples(X))


def test_parquet_without_pyarrow_names_the_extra(tmp_path):
    (tmp_path / "d.parquet").write_bytes(b"PAR1 whatever")
    code = ("import sys; sys.modules['pyarrow'] = None; from isoforest.cli import main; "
            "sys.exit(main(['detect', 'd.parquet', '--out', 'o.csv']))")
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, timeout=TIMEOUT)
    assert res.returncode == 1, res.stderr
    assert "pip install isoforest[arrow]" in res.stderr
    assert "Traceback" not in res.stderr


def test_import_isoforest_does_not_import_pyarrow():
    code = ("import sys, isoforest, isoforest.cli, isoforest.stream; "
            "assert 'pyarrow' not in sys.modules, 'pyarrow imported'; "
            "assert 'isoforest.cli' not in sys.modules or True")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=TIMEOUT)
    assert res.returncode == 0, res.stderr


def test_cli_and_stream_do_not_import_each_other():
    for mod, other in (("isoforest.stream", "isoforest.cli"),):
        code = f"import sys, {mod}; assert '{other}' not in sys.modules"
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=TIMEOUT)
        assert res.returncode == 0, res.stderr
    import ast

    import isoforest.stream as s

    tree = ast.parse(open(s.__file__).read())
    names = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert "cli" not in names and "isoforest.cli" not in names


# ------------------------------------------------------------------ bad files

BAD = {
    "truncated.csv": (b"a,b,c\n1,2,3\n4,5,6\n7,8", "line 4"),
    "cut_in_quote.csv": (b'a,b,t\n1,2,x\n3,4,"never', "never closes"),
    "latin1.csv": (b"a,b,name\n1,2,ok\n3,4,caf\xe9\n", "utf-8"),
    "ragged.csv": (b"a,b\n1,2\n3,4,5\n", "line 3"),
    "random.parquet": (bytes(np.random.RandomState(0).randint(0, 256, 300, dtype=np.uint8)),
                       "parquet"),
    "empty.csv": (b"", "empty"),
    "header_only.csv": (b"a,b\n", "numeric"),
}


@pytest.fixture(scope="module")
def bad_runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    out = {}
    for name, (data, _) in BAD.items():
        (d / name).write_bytes(data)
    for parser, env in PARSERS.items():
        for name in BAD:
            out[parser, name] = run_cli("detect", name, "--out", "o.csv", cwd=d, env=env)
    return d, out


@pytest.mark.parametrize("parser", list(PARSERS))
@pytest.mark.parametrize("name", list(BAD))
def test_bad_file_exits_1(bad_runs, parser, name):
    if name.endswith(".parquet") and not has_pyarrow():
        pytest.skip("pyarrow not installed")
    d, runs = bad_runs
    res = runs[parser, name]
    err = res.stderr.decode()
    assert res.returncode == 1, (res.returncode, err)
    assert "Traceback" not in err and "error" in err.lower()
    assert BAD[name][1].lower() in err.lower(), err
    assert not (d / "o.csv").exists()


def test_score_bad_row_mid_file_leaves_no_output(tmp_path):
    lines = ["a,b"] + [f"{i},{i % 7}" for i in range(300)] + ["oops,1"]
    (tmp_path / "d.csv").write_text("\n".join(lines[:-1]) + "\n")
    (tmp_path / "bad.csv").write_text("\n".join(lines) + "\n")
    assert run_cli("fit", "d.csv", "--model", "m.npz", cwd=tmp_path).returncode == 0
    res = run_cli("score", "m.npz", "bad.csv", "--out", "o.csv", cwd=tmp_path,
                  env={"ISOFOREST_CSV_BLOCK": "256"})
    assert res.returncode == 1
    assert "line 302" in res.stderr.decode() and "oops" in res.stderr.decode()
    assert not (tmp_path / "o.csv").exists()
    model = load_model(tmp_path / "m.npz")
    assert model.n_features_in_ == 2


@pytest.mark.parametrize("method", ["iforest", "zscore"])
def test_explain_columns_match_python_api(tmp_path, method):
    from isoforest import explain

    rng = np.random.RandomState(5)
    X = rng.randn(120, 3)
    X[0] = [0.0, 9.0, 0.0]
    (tmp_path / "d.csv").write_text("a,b,c,t\n" + "".join(
        f"{a!r},{b!r},{c!r},x\n" for a, b, c in X.tolist()))
    res = run_cli("detect", "d.csv", "--out", "o.csv", "--method", method, "--explain", "2",
                  cwd=tmp_path)
    assert res.returncode == 0, res.stderr.decode()
    rows = out_lines((tmp_path / "o.csv").read_bytes())
    assert rows[0][-4:] == ["why_1", "contribution_1", "why_2", "contribution_2"]
    model = (IsolationForest(random_state=0) if method == "iforest" else ZScoreDetector()).fit(X)
    values = explain(model, X).values
    key = values if method == "iforest" else -np.abs(values)
    order = np.argsort(key, axis=1, kind="stable")[:, :2]
    names = np.array(["a", "b", "c"])
    assert [r[-4] for r in rows[1:]] == names[order[:, 0]].tolist()
    assert [r[-2] for r in rows[1:]] == names[order[:, 1]].tolist()
    np.testing.assert_array_equal([float(r[-3]) for r in rows[1:]],
                                  np.take_along_axis(values, order, axis=1)[:, 0])
    assert rows[1][-4] == "b"  # the planted feature
