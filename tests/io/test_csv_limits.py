"""The CSV scanner against crafted input: any bytes give Python's ``csv`` rows or a
clear refusal; the kernel writes only inside the arrays it is given, whatever their
size; and a record that never ends (an unclosed quote, a line without a newline)
is refused -- or skipped, on a stream -- once ``max_record_bytes`` are read, with
memory bounded on standard input."""

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from _fuzz import examples

from isoforest import IsolationForest, save_model
from isoforest.io._tabular import CsvReader, DataError
from isoforest.io._tabular_kernels import scan_csv

TIMEOUT = 120
TESTS = Path(__file__).resolve().parents[1]


def oracle(text):
    """csv.reader's rows of ``text`` (empty lines skipped)."""
    return [r for r in csv.reader(io.StringIO(text, newline="")) if r]


def read_all(path, block):
    """(header, rows) as CsvReader reads them, every field decoded."""
    reader = CsvReader(str(path), block_size=block, arrow=False)
    rows = [reader.header]
    for chunk in reader.chunks():
        for i in range(chunk.n):
            rows.append([reader._field_text(chunk, i, j) for j in range(reader.width)])
    return rows


# ----------------------------------------------------------- any bytes, csv as oracle

TOKENS = [b"1", b"2.5", b"a", b" ", b",", b",", b"\n", b"\n", b"\r", b"\r\n", b'"', b'""',
          b'"x"y', b"\x00", "é".encode(), b"\xef\xbb\xbf", b"\xff", b"\xc3", b"\t"]
nasty = st.tuples(st.sampled_from([b"", b"a,b\n", b"\xef\xbb\xbfa,b\n", b"a,b\r\n"]),
                  st.lists(st.sampled_from(TOKENS), max_size=40)).map(
                      lambda t: t[0] + b"".join(t[1]))


@pytest.mark.kernels
@settings(max_examples=examples(400))
@given(data=st.one_of(st.binary(max_size=120), nasty), block=st.integers(3, 64))
def test_any_bytes_give_the_csv_modules_rows_or_a_clear_refusal(data, block,
                                                                tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzz") / "t.csv"
    path.write_bytes(data)
    try:
        got = read_all(path, block)
    except DataError as exc:
        assert str(exc) and ("line" in str(exc) or "empty" in str(exc)), exc
        return
    text = data.decode("utf-8")  # what was taken is UTF-8 ...
    assert got == oracle(text)   # ... and read as the csv module reads it


# ------------------------------------------------------------- the kernel's own bounds

def scan(data, n_rec, n_f, final=True):
    """scan_csv with arrays of ``n_rec`` records and ``n_f`` fields, each handed to
    the kernel as a view of a larger array whose guard elements must stay as they
    were."""
    arr = np.frombuffer(data, np.uint8)
    whole = [np.full(n + 8, 99, dtype) for n, dtype in
             [(n_rec, np.int64)] * 4 + [(n_f, np.int64)] * 2 + [(n_f, np.int8)]]
    views = [w[:n] for w, n in zip(whole, [n_rec] * 4 + [n_f] * 3)]
    out = scan_csv(arr, final, ord(","), *views)
    for w, n in zip(whole, [n_rec] * 4 + [n_f] * 3):
        assert (w[n:] == 99).all(), "written out of bounds"
    return out, views[0], views[4]


@pytest.mark.kernels
def test_kernel_stops_when_its_arrays_are_full():
    data = b"1,2\n3,4\n5,6\n7,8"
    for n_rec, n_f in [(1, 100), (2, 100), (100, 3), (100, 5), (3, 6)]:
        (nr, nf, consumed, newlines, error), rec_lo, f_lo = scan(data, n_rec, n_f)
        assert error == 3 and 0 < nr <= n_rec and nf == 2 * nr
        assert data[:consumed].count(b"\n") == newlines == nr
    (nr, nf, consumed, _, error), _, _ = scan(data, 4, 8)
    assert (nr, nf, consumed, error) == (4, 8, len(data), 0)


@pytest.mark.kernels
def test_kernel_refuses_one_record_wider_than_its_arrays():
    (nr, nf, consumed, _, error), _, _ = scan(b"1,2,3,4,5\n6\n", 4, 3)
    assert (nr, error) == (0, 2)


@pytest.mark.kernels
def test_reader_reads_past_full_arrays(tmp_path):
    """Short records in a large block fill the arrays sized from the block (not from
    the bytes read): the reader scans on from where the kernel stopped."""
    rows = [[str(i), str(-i)] for i in range(5000)]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([["a", "b"]] + rows)
    path = tmp_path / "t.csv"
    path.write_text(buf.getvalue())
    for block in (7, 64, 1 << 20):
        assert read_all(path, block) == [["a", "b"]] + rows


# ------------------------------------------------------------- records that never end

def run_cli(*args, input_path=None, cwd=None):
    with open(input_path, "rb") if input_path else open(os.devnull, "rb") as fin:
        return subprocess.run([sys.executable, "-m", "isoforest", *map(str, args)],
                              stdin=fin, capture_output=True, timeout=TIMEOUT, cwd=cwd)


def peak_run(args, input_path):
    """The command line's ``main`` in a subprocess fed ``input_path`` on standard
    input: (exit code, standard error, the process's peak resident memory in MiB)."""
    with open(input_path, "rb") as fin:
        res = subprocess.run([sys.executable, str(TESTS / "_peak_memory.py"),
                              *map(str, args)], stdin=fin, capture_output=True,
                             timeout=TIMEOUT,
                             env=dict(os.environ, PYTHONPATH=str(TESTS.parent)))
    err = res.stderr.decode()
    return res.returncode, err, int(err.rsplit("peak_kib=", 1)[1]) / 1024


def test_unclosed_quote_on_stdin_is_refused_in_bounded_memory(tmp_path):
    """An unclosed quote followed by 160 MiB of line breaks and text on standard
    input: exit 1 naming the limit, and the process grows by far less than the
    input (without the limit the reader held it all, several times over, and sized
    its arrays by its line breaks)."""
    small = tmp_path / "small.csv"
    small.write_bytes(b'a,b\n1,2\n3,"open\n')
    big = tmp_path / "big.csv"
    with open(big, "wb") as f:
        f.write(small.read_bytes())
        piece = b"\n" * (1 << 19) + b"x," * (1 << 19)
        for _ in range(160 * (1 << 20) // len(piece)):
            f.write(piece)
    out = tmp_path / "o.csv"
    code, err, base = peak_run(["detect", "-", "--out", out], small)
    assert code == 1 and "a quoted field never closes" in err, err
    code, err, peak = peak_run(["detect", "-", "--out", out], big)
    assert code == 1, err
    assert "line 3: a record longer than 16777216 bytes" in err, err
    assert "--max-record-bytes" in err
    assert not out.exists()
    # measured: 68 MiB above the small input's peak at the 16 MiB limit (the
    # buffers and the scanner's arrays, sized from the block, not from the input);
    # holding the input once would be 160 MiB
    assert peak - base < 120, (base, peak)
    code, err, _ = peak_run(["detect", "-", "--out", out, "--max-record-bytes", 4 << 20],
                            big)
    assert code == 1 and "longer than 4194304 bytes" in err, err


def test_record_longer_than_the_limit_in_a_file(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b"a,b\n1,2\n" + b'"' + b"y" * 5000 + b'",3\n4,5\n')
    with pytest.raises(DataError, match="line 3: a record longer than 1000 bytes"):
        list(CsvReader(str(path), arrow=False, max_record=1000).chunks())
    with pytest.raises(DataError, match="line 3: a record longer than 1000 bytes"):
        list(CsvReader(str(path), arrow=False, max_record=1000, block_size=64).chunks())
    assert len(read_all(path, 64)) == 4  # the default limit takes it


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    d = tmp_path_factory.mktemp("m")
    X = np.random.RandomState(0).randn(300, 2)
    model = IsolationForest(n_estimators=20, random_state=0).fit(X)
    path = d / "m.iso"
    save_model(model, str(path), extra={"columns": ["a", "b"], "method": "iforest",
                                        "center": None, "scale": None, "missing": "drop"})
    return path, model


def test_stream_skips_a_line_longer_than_the_limit(tmp_path, model_file):
    path, model = model_file
    # line 3 is complete in one read; line 7 spans several reads (1 MiB each), so
    # the stream drops it as it comes instead of holding it
    lines = [b"a,b", b"0.5,0.25", b"1" * 3000, b"-1,2", b"x" * 5000 + b",1", b"3,4",
             b"7," + b"7" * (3 << 20), b"5,6"]
    feed = tmp_path / "in.csv"
    feed.write_bytes(b"\n".join(lines) + b"\n")
    res = run_cli("stream", "--model", path, "--max-record-bytes", 1000,
                  "--top-features", "0", input_path=feed)
    assert res.returncode == 0, res.stderr
    err = res.stderr.decode()
    for line in (3, 5, 7):
        assert f"line {line}: longer than 1000 bytes" in err, err
    assert "4 records scored" in err and "3 malformed lines skipped" in err
    got = [float(x.split(b",")[0]) for x in res.stdout.splitlines()]
    X = np.array([[0.5, 0.25], [-1, 2], [3, 4], [5, 6]])
    assert np.array_equal(got, -model.score_samples(X))
