"""Tabular input and output for the command line and the stream, in chunks.

One module reads and writes every table format the front ends take:

* CSV (``.csv``, anything else, and ``-`` for standard input/output) and TSV
  (``.tsv``, ``.tab``): a header line, quoting as Python's :mod:`csv` module reads it
  (quoted fields may hold delimiters, quotes and newlines), UTF-8 text. A record is
  never decoded into Python objects: a byte-level scanner (a Numba kernel) finds the
  records and fields, the numeric columns are parsed from the field bytes (by
  pyarrow's C++ CSV reader when pyarrow is installed, else by NumPy), and an output
  line is the input record's own bytes followed by the added fields, so text
  columns, quoting and number formatting pass through byte for byte.
* Parquet (``.parquet``, ``.pq``) and Arrow IPC / Feather v2 (``.arrow``,
  ``.feather``, ``.ipc``): read by record batches and written with the columns
  added, through the optional ``arrow`` extra (pyarrow), imported lazily.

A file is read in chunks of about ``csv_block`` bytes (Parquet/Arrow: record
batches of at most ``batch_rows`` rows), so files of any size pass through in
bounded memory. Missing values are the spellings in :data:`MISSING` (case and
surrounding blanks ignored), read as NaN.

The chunk sizes and whether pyarrow parses CSV are the ``csv_block``,
``arrow_block``, ``arrow_threads``, ``batch_rows`` and ``arrow`` settings of
``isoforest.get_config()``, read when a file is opened.

Why one module of ~900 lines: the readers and writers share one chunk protocol
(``Chunk``, ``open_table``, ``open_writer``, ``TableSource``) that the jobs and the
stream program against, and each format's reader and writer are written against it
side by side; the byte scanner is the kernel module ``_tabular_kernels``.
"""

import csv
import io
import itertools
import os
import sys

import numpy as np

from .._config import get_config
from ..forest._source import RowSource
from . import _tabular_kernels
from ._tabular_kernels import COMPLEX, join_scored, scan_csv, scored_size

__all__ = [
    "EXIT_OK", "EXIT_DATA", "EXIT_USAGE", "MISSING", "DataError", "format_of",
    "open_table", "open_writer", "CsvReader", "ArrowReader", "parse_missing",
    "float_lines", "format_floats", "have_arrow",
]

EXIT_OK, EXIT_DATA, EXIT_USAGE = 0, 1, 2
#: Cell spellings read as a missing value (compared after strip() and lower()).
MISSING = frozenset({"", "na", "nan", "null", "none", "n/a", "?"})
_MISSING_BYTES = sorted(m.encode() for m in MISSING)


def _case_variants(word):
    return {"".join(p) for p in itertools.product(*[{c.lower(), c.upper()} for c in word])}


#: every spelling of MISSING with any letter case, for Arrow's exact-match lookups
_MISSING_CASED = sorted(set().union(*[_case_variants(m) for m in MISSING]))


ARROW_EXTRA = "pip install isoforest[arrow]"


class DataError(Exception):
    """Bad input data (or a format that needs a missing extra): exit code 1."""


def have_arrow():
    """Whether the CSV path may use pyarrow (installed, not switched off)."""
    if not get_config()["arrow"]:
        return False
    try:
        import pyarrow.csv  # noqa: F401
    except ImportError:
        return False
    return True


def _pyarrow(what):
    try:
        import pyarrow  # noqa: F401
        import pyarrow.compute  # noqa: F401
    except ImportError:
        raise DataError(f"{what} needs pyarrow: {ARROW_EXTRA}") from None
    return pyarrow


def format_of(path):
    """``'csv'``, ``'tsv'``, ``'parquet'`` or ``'arrow'``, from the file name."""
    if path == "-":
        return "csv"
    ext = os.path.splitext(str(path))[1].lower()
    if ext in (".parquet", ".pq"):
        return "parquet"
    if ext in (".arrow", ".feather", ".ipc"):
        return "arrow"
    if ext in (".tsv", ".tab"):
        return "tsv"
    return "csv"


def parse_missing(text):
    """One cell as a float: NaN for a missing spelling; ValueError for a non-number."""
    t = text.strip()
    if t.lower() in MISSING:
        return np.nan
    return float(t)


def float_lines(values, tails=(b"\n",), cls=None, nan_empty=True):
    """Every float's ``repr`` followed by ``tails[cls[i]]``, as one buffer.

    Returns ``(buf, line_start)``: line ``i`` is ``buf[line_start[i]:line_start[i +
    1]]`` (a ``uint8`` array and int64 offsets). The text is ``repr(float(v))``
    byte for byte (``''`` for NaN with ``nan_empty``): the kernel writes it for
    nearly every score and leaves the rare rest (zero, inf, tiny or huge values,
    powers of two) to ``repr`` here.
    """
    values = np.ascontiguousarray(values, dtype=np.float64).reshape(-1)
    n = values.shape[0]
    tail_len = np.array([len(t) for t in tails], dtype=np.int64)
    table = np.zeros((len(tails), max(1, int(tail_len.max()))), dtype=np.uint8)
    for c, t in enumerate(tails):
        table[c, :len(t)] = np.frombuffer(t, np.uint8)
    cls = np.zeros(n, np.int8) if cls is None else np.ascontiguousarray(cls, dtype=np.int8)
    if cls.shape != (n,) or (n and (cls.min() < 0 or cls.max() >= len(tails))):
        raise ValueError("cls must hold one index into tails per value")
    out = np.empty(n * (_tabular_kernels.FLOAT_TEXT_MAX + int(table.shape[1])), np.uint8)
    line_start = np.empty(n + 1, np.int64)
    fallback = np.empty(n, np.uint8)
    size = _tabular_kernels.write_floats(values, values.view(np.uint64), bool(nan_empty),
                                         table, tail_len, cls, out, line_start, fallback)
    out = out[:size]
    rest = np.flatnonzero(fallback)
    if rest.size:  # repr for what the kernel leaves: splice it in
        texts = [repr(v).encode() for v in values[rest].tolist()]
        pieces, prev = [], 0
        for i, t in zip(rest.tolist(), texts):
            pieces.append(out[prev:line_start[i]].tobytes())
            pieces.append(t)
            prev = int(line_start[i])
        pieces.append(out[prev:].tobytes())
        grow = np.zeros(n + 1, np.int64)
        grow[rest + 1] = [len(t) for t in texts]
        line_start = line_start + np.cumsum(grow)
        out = np.frombuffer(b"".join(pieces), np.uint8)
    return out, line_start


def format_floats(values):
    """``repr`` of every float (shortest round trip), ``''`` for NaN; a list of str."""
    buf, starts = float_lines(values, tails=(b"\n",))
    if buf.size == 0:
        return []
    return buf.tobytes().decode("ascii")[:-1].split("\n")


# ------------------------------------------------------------------------- chunks


class Chunk:
    """Consecutive data rows of a table.

    CSV: ``data`` (bytes) holds the records, ``rec_lo/rec_hi`` each record's bytes,
    ``rec_line`` its first line number (1-based, the header is line 1), ``f_lo,
    f_hi, f_kind`` its fields as ``(n, width)`` arrays. Parquet/Arrow: ``batch``, a
    pyarrow RecordBatch. ``row0`` is the index of the chunk's first row.
    """

    __slots__ = ("n", "row0", "data", "arr", "rec_lo", "rec_hi", "rec_line", "f_lo",
                 "f_hi", "f_kind", "batch", "nbytes")

    def __init__(self, n, row0, **kw):
        self.n = n
        self.row0 = row0
        self.data = self.arr = self.rec_lo = self.rec_hi = self.rec_line = None
        self.f_lo = self.f_hi = self.f_kind = self.batch = None
        self.nbytes = 0
        for k, v in kw.items():
            setattr(self, k, v)


def _scan(data, final, delim, block_size, width=None):
    """Scan ``data`` (see ``scan_csv``). A record ends at a line break (or the end),
    so the record arrays are sized from the line breaks; the field arrays hold
    ``width`` fields a record once the header is read (a wider record stops the scan:
    error 2), and before it as many fields as delimiters and line breaks allow. Never
    past what a block of ``block_size`` bytes needs, so that a buffer grown for one
    long record (an unclosed quote over megabytes of line breaks, say) costs no
    more: the kernel then stops when they are full (error 3) and the caller scans on
    from there."""
    arr = np.frombuffer(data, dtype=np.uint8)
    n_nl = data.count(b"\n") + data.count(b"\r")  # at most this many line breaks
    n_rmax = min(n_nl + 1, block_size // 2 + 1)
    if width is None:
        n_fmax = min(data.count(delim) + n_nl + 1, block_size + 1)
    else:  # at least one whole record of the header's width
        n_fmax = min((n_nl + 1) * width, max(block_size, width)) + 1
    rec_lo = np.empty(n_rmax, np.int64)
    rec_hi = np.empty(n_rmax, np.int64)
    rec_line = np.empty(n_rmax, np.int64)
    rec_nf = np.empty(n_rmax, np.int64)
    f_lo = np.empty(n_fmax, np.int64)
    f_hi = np.empty(n_fmax, np.int64)
    f_kind = np.empty(n_fmax, np.int8)
    n_rec, n_f, consumed, newlines, error = scan_csv(
        arr, final, delim[0], rec_lo, rec_hi, rec_line, rec_nf, f_lo, f_hi, f_kind)
    return (arr, rec_lo[:n_rec], rec_hi[:n_rec], rec_line[:n_rec], rec_nf[:n_rec],
            f_lo[:n_f], f_hi[:n_f], f_kind[:n_f], consumed, newlines, error,
            int(rec_line[0]) if error else 0)


class CsvReader:
    """A CSV (or TSV) file read in chunks of whole records.

    Parameters
    ----------
    path : str
        File name, or ``'-'`` for standard input (read once; :meth:`hold` keeps its
        bytes for a second pass).
    delimiter : {',', '\\t'}
    block_size : int, default=None
        Bytes per chunk; None: the ``csv_block`` setting.
    max_record : int, default=None
        The longest record taken, in bytes; a longer one (or a quote that never
        closes) is refused with :class:`DataError` once that many bytes are read, so
        memory stays bounded. None: the ``max_record_bytes`` setting.
    arrow : bool, default=None
        Parse numbers with pyarrow (default: when installed, see :func:`have_arrow`).
    """

    kind = "csv"

    def __init__(self, path, delimiter=",", block_size=None, arrow=None, max_record=None):
        self.path = path
        self.name = "standard input" if path == "-" else str(path)
        self.delim = delimiter.encode()
        self.block_size = int(block_size or get_config()["csv_block"])
        self.max_record = int(max_record or get_config()["max_record_bytes"])
        self.arrow = have_arrow() if arrow is None else bool(arrow)
        self._held = None
        self.total_bytes = None
        if path == "-":
            self._fh = sys.stdin.buffer
        else:
            try:
                self._fh = open(path, "rb")
                self.total_bytes = os.fstat(self._fh.fileno()).st_size
            except OSError as exc:
                raise DataError(f"cannot open {path}: {exc.strerror}") from None
        self._chunks = self._read_chunks(self._fh)
        first = next(self._chunks, None)
        if first is None:
            self.close()
            raise DataError(f"{self.name} is empty: a header line is required")
        self._first = first

    # -- raw records -------------------------------------------------------------
    def _raw(self, fh):
        """(data, scan results, line of data's first byte) for each block of records."""
        pending = b""
        line = 1
        size = self.block_size
        eof = False
        read = True
        while True:
            if read:
                data = fh.read(size)
                eof = not data
                if not eof and len(data) < size and fh is not sys.stdin.buffer:
                    more = fh.read(size - len(data))
                    data += more
                buf = pending + data if pending else data
            else:
                buf = pending
            read = True
            if not buf:
                return
            width = getattr(self, "width", None)
            res = _scan(buf, eof, self.delim, self.block_size, width)
            error = res[10]
            if error == 1:
                raise DataError(f"{self.name}, line {line + res[11]}: a quoted field "
                                "never closes (is the file cut short?)")
            if error == 2:
                raise DataError(f"{self.name}, line {line + res[11]}: " + (
                    f"more fields than the header's {width}" if width is not None else
                    f"a header of more than {self.block_size + 1} fields"))
            n_rec, consumed, newlines = res[1].shape[0], res[8], res[9]
            if n_rec == 0 and not eof:
                if len(buf) > self.max_record:
                    raise DataError(self._too_long(line))
                pending = buf  # one record longer than a block: read on
                size *= 2
                continue
            long = (res[2] - res[1]) > self.max_record if n_rec else None
            if long is not None and long.any():
                raise DataError(self._too_long(line + int(res[3][np.argmax(long)])))
            size = self.block_size
            self._check_utf8(buf, consumed, line)
            yield buf, res, line
            pending = buf[consumed:]
            line += newlines
            if error == 3:
                read = False  # the arrays were full: scan the rest before reading on
            elif eof:
                return

    def _too_long(self, line):
        return (f"{self.name}, line {line}: a record longer than {self.max_record} bytes "
                "(a quote that never closes?); a longer record needs --max-record-bytes "
                "(the max_record_bytes setting)")

    def _check_utf8(self, buf, consumed, line):
        view = memoryview(buf)[:consumed]
        if view.nbytes and not bytes(view).isascii():
            try:
                str(view, "utf-8")
            except UnicodeDecodeError as exc:
                at = line + bytes(view[: exc.start]).count(b"\n")
                raise DataError(
                    f"{self.name}, line {at}: not UTF-8 text (byte 0x{view[exc.start]:02x}); "
                    "save the file as UTF-8") from None

    def _read_chunks(self, fh):
        row0 = 0
        header_done = False
        for buf, res, line in self._raw(fh):
            arr, rec_lo, rec_hi, rec_line, rec_nf, f_lo, f_hi, f_kind = res[:8]
            rec_line = rec_line + line
            if not header_done:
                if rec_lo.shape[0] == 0:  # only blank lines so far
                    continue
                header_done = True
                self._set_header(buf, rec_lo[0], rec_hi[0])
                fstart = int(rec_nf[0])
                rec_lo, rec_hi, rec_line, rec_nf = rec_lo[1:], rec_hi[1:], rec_line[1:], rec_nf[1:]
                f_lo, f_hi, f_kind = f_lo[fstart:], f_hi[fstart:], f_kind[fstart:]
            n = rec_lo.shape[0]
            w = self.width
            bad = np.flatnonzero(rec_nf != w)
            if bad.size:
                b = int(bad[0])
                raise DataError(f"{self.name}, line {int(rec_line[b])}: {int(rec_nf[b])} "
                                f"fields, the header has {w}")
            yield Chunk(n, row0, data=buf, arr=arr, rec_lo=rec_lo, rec_hi=rec_hi,
                        rec_line=rec_line, f_lo=f_lo.reshape(n, w), f_hi=f_hi.reshape(n, w),
                        f_kind=f_kind.reshape(n, w), nbytes=res[8])
            row0 += n

    def _set_header(self, buf, lo, hi):
        raw = bytes(buf[lo:hi])
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise DataError(f"{self.name}, line 1: not UTF-8 text; save the file as UTF-8") from None
        self.header_bytes = raw
        self.header = next(csv.reader(io.StringIO(text), delimiter=self.delim.decode()))
        self.width = len(self.header)

    # -- iteration -------------------------------------------------------------------
    def chunks(self):
        """The data chunks, in order (once; :meth:`reopen` for another pass)."""
        first, self._first = self._first, None
        if first is not None and first.n:
            yield first
        for c in self._chunks:
            if self._held is not None:
                self._held.append(c)
            yield c
        self.close()

    def hold(self):
        """On standard input, keep the chunks read (for :meth:`reopen`'s second pass);
        a file is simply read again."""
        if self.path == "-":
            self._held = [] if self._first is None else [self._first]

    def reopen(self):
        """A reader for a second pass over the same input."""
        if self.path == "-":
            held, self._held = self._held, None
            again = object.__new__(CsvReader)
            again.__dict__.update(self.__dict__)
            again._first = None
            again._chunks = iter(held or [])
            return again
        return CsvReader(self.path, self.delim.decode(), self.block_size, self.arrow)

    def close(self):
        if self._fh is not None and self._fh is not sys.stdin.buffer:
            self._fh.close()
        self._fh = None

    # -- numbers -----------------------------------------------------------------------
    def numbers(self, chunk, cols, strict=True, rows=None):
        """Columns ``cols`` of a chunk as floats.

        Returns ``(X, ok, seen)``: X is ``(n, len(cols))`` float64 (NaN for missing
        values), ``ok[k]`` whether column k holds numbers only, ``seen[k]`` whether it
        holds any. With ``strict`` a non-number raises DataError naming its line.
        ``rows`` (sorted positions in the chunk) parses only those rows.
        """
        if rows is not None:
            chunk = Chunk(len(rows), chunk.row0, data=chunk.data, arr=chunk.arr,
                          rec_lo=chunk.rec_lo[rows], rec_hi=chunk.rec_hi[rows],
                          rec_line=chunk.rec_line[rows], f_lo=chunk.f_lo[rows],
                          f_hi=chunk.f_hi[rows], f_kind=chunk.f_kind[rows],
                          nbytes=chunk.nbytes)
            return self._numbers(chunk, cols, strict, arrow=False)
        return self._numbers(chunk, cols, strict, arrow=self.arrow)

    def _numbers(self, chunk, cols, strict, arrow):
        n = chunk.n
        X = np.full((n, len(cols)), np.nan)
        ok = np.ones(len(cols), bool)
        seen = np.zeros(len(cols), bool)
        if n == 0 or not cols:
            return X, ok, seen
        done = np.zeros(len(cols), bool)
        if arrow:
            done = self._arrow_numbers(chunk, cols, X, ok, seen)
        for k, j in enumerate(cols):
            if done[k]:
                continue
            col, good, any_ = self._numpy_column(chunk, j, strict)
            ok[k], seen[k] = good, any_
            if good:
                X[:, k] = col
        if strict and not ok.all():
            k = int(np.flatnonzero(~ok)[0])
            self._numpy_column(chunk, cols[k], True)  # raises with the line
        return X, ok, seen

    def _arrow_numbers(self, chunk, cols, X, ok, seen):
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.csv as pacsv

        done = np.zeros(len(cols), bool)
        lo = int(chunk.rec_lo[0])
        view = memoryview(chunk.data)[lo: chunk.nbytes]
        names = [f"c{j}" for j in range(self.width)]
        wanted = sorted(set(cols))
        # one thread by default: measured as fast here (the scoring kernels use the
        # cores) and ~20 MB leaner
        config = get_config()
        read_options = pacsv.ReadOptions(column_names=names,
                                         use_threads=config["arrow_threads"],
                                         block_size=config["arrow_block"])
        parse_options = pacsv.ParseOptions(
            delimiter=self.delim.decode(), ignore_empty_lines=True,
            newlines_in_values=bool((chunk.f_kind != 0).any()))
        try:
            # numbers straight from the bytes: the common case, and the fastest
            table = pacsv.read_csv(
                pa.py_buffer(view), read_options=read_options, parse_options=parse_options,
                convert_options=pacsv.ConvertOptions(
                    include_columns=[names[j] for j in wanted],
                    column_types={names[j]: pa.float64() for j in wanted},
                    null_values=_MISSING_CASED, strings_can_be_null=False,
                    quoted_strings_can_be_null=False))
        except (pa.ArrowInvalid, pa.ArrowException):
            table = None
        if table is not None and table.num_rows == chunk.n:
            for k, j in enumerate(cols):
                col = table.column(names[j])
                X[:, k] = col.to_numpy()
                seen[k] = col.null_count < chunk.n
            done[:] = True
            return done
        # The same read with every column as text (other convert options): what float64
        # refused is converted, or left to the NumPy path, column by column below.
        try:
            table = pacsv.read_csv(
                pa.py_buffer(view), read_options=read_options, parse_options=parse_options,
                convert_options=pacsv.ConvertOptions(
                    include_columns=[names[j] for j in wanted],
                    column_types={names[j]: pa.string() for j in wanted},
                    strings_can_be_null=False, quoted_strings_can_be_null=False),
            )
        except (pa.ArrowInvalid, pa.ArrowException):
            return done  # the NumPy path reports precisely
        if table.num_rows != chunk.n:
            return done
        missing = pa.array(_MISSING_CASED)
        for k, j in enumerate(cols):
            arr = table.column(names[j])
            miss = pc.is_in(arr, value_set=missing)
            try:
                vals = pc.cast(pc.if_else(miss, pa.scalar(None, pa.string()), arr),
                               pa.float64())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                continue  # spaces, underscores, words: the NumPy path decides
            X[:, k] = vals.to_numpy(zero_copy_only=False)
            seen[k] = pc.sum(pc.invert(miss)).as_py() or 0
            done[k] = True
        return done

    def _field_text(self, chunk, i, j):
        kind = chunk.f_kind[i, j]
        raw = bytes(chunk.data[chunk.f_lo[i, j]: chunk.f_hi[i, j]])
        text = raw.decode("utf-8")
        if kind == COMPLEX:
            text = next(csv.reader([text], delimiter=self.delim.decode()))[0]
        return text

    def _numpy_column(self, chunk, j, strict):
        """(values, numbers only, any number) of column j; NumPy's C parser first."""
        n = chunk.n
        lo, hi, kind = chunk.f_lo[:, j], chunk.f_hi[:, j], chunk.f_kind[:, j]
        length = hi - lo
        width = int(length.max()) if n else 0
        if width <= 64 and not (kind == COMPLEX).any():
            if width == 0:
                return np.full(n, np.nan), True, False
            idx = lo[:, None] + np.arange(width)
            mask = np.arange(width) < length[:, None]
            cells = np.where(mask, chunk.arr[np.minimum(idx, chunk.arr.shape[0] - 1)], 0)
            cells = np.ascontiguousarray(cells, dtype=np.uint8).view(f"S{width}").ravel()
            try:
                return cells.astype(np.float64), True, True
            except ValueError:
                pass
            low = np.strings.lower(np.strings.strip(cells))
            miss = np.isin(low, _MISSING_BYTES)
            try:
                vals = np.where(miss, b"nan", cells).astype(np.float64)
                return vals, True, bool((~miss).any())
            except ValueError:
                pass
        # the exact definition, cell by cell (stops at the first non-number)
        out = np.empty(n)
        any_ = False
        for i in range(n):
            text = self._field_text(chunk, i, j)
            try:
                v = parse_missing(text)
            except ValueError:
                if strict:
                    shown = text if len(text) <= 40 else text[:37] + "..."
                    raise DataError(
                        f"{self.name}, line {int(chunk.rec_line[i])}: column "
                        f"{self.header[j]} holds a non-number ({shown!r})") from None
                return None, False, any_
            any_ = any_ or v == v
            out[i] = v
        return out, True, any_


# ---------------------------------------------------------------- Parquet / Arrow


class ArrowReader:
    """A Parquet or Arrow IPC (Feather v2) file read by record batches."""

    kind = "arrow"

    def __init__(self, path, fmt):
        pa = _pyarrow("reading Parquet and Arrow files")
        self.path = path
        self.name = str(path)
        self.fmt = fmt
        self.total_bytes = None
        if not os.path.exists(path):
            raise DataError(f"cannot open {path}: No such file or directory")
        self.total_bytes = os.path.getsize(path)
        try:
            if fmt == "parquet":
                import pyarrow.parquet as pq

                self._file = pq.ParquetFile(path)
                self.schema = self._file.schema_arrow
            else:
                self._file = pa.ipc.open_file(path)
                self.schema = self._file.schema
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise DataError(f"{path}: not a readable {'Parquet' if fmt == 'parquet' else 'Arrow'} "
                            f"file ({exc})") from None
        self.header = list(self.schema.names)
        self.width = len(self.header)
        self.header_bytes = None

    def chunks(self):
        import pyarrow as pa

        row0 = 0
        batch_rows = get_config()["batch_rows"]
        try:
            if self.fmt == "parquet":
                batches = self._file.iter_batches(batch_size=batch_rows)
            else:
                batches = (self._file.get_batch(i) for i in range(self._file.num_record_batches))
            for batch in batches:
                for lo in range(0, batch.num_rows, batch_rows):
                    b = batch.slice(lo, batch_rows)
                    yield Chunk(b.num_rows, row0, batch=b)
                    row0 += b.num_rows
        except (pa.ArrowException, OSError) as exc:
            raise DataError(f"{self.name}: not a readable file ({exc})") from None

    def hold(self):
        pass

    def reopen(self):
        return ArrowReader(self.path, self.fmt)

    def close(self):
        pass

    def numbers(self, chunk, cols, strict=True, rows=None):
        import pyarrow as pa
        import pyarrow.compute as pc

        if rows is not None:
            chunk = Chunk(len(rows), chunk.row0, batch=chunk.batch.take(pa.array(rows)))
        n = chunk.n
        X = np.full((n, len(cols)), np.nan)
        ok = np.ones(len(cols), bool)
        seen = np.zeros(len(cols), bool)
        missing = pa.array(_MISSING_CASED)
        for k, j in enumerate(cols):
            arr = chunk.batch.column(j)
            t = arr.type
            vals = None
            if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
                vals = pc.cast(arr, pa.float64(), safe=False)
            elif pa.types.is_string(t) or pa.types.is_large_string(t):
                miss = pc.is_in(arr, value_set=missing)
                try:
                    vals = pc.cast(pc.if_else(miss, pa.scalar(None, t), arr), pa.float64())
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    col = []
                    for i, s in enumerate(arr.to_pylist()):
                        try:
                            col.append(np.nan if s is None else parse_missing(s))
                        except ValueError:
                            if strict:
                                raise DataError(f"{self.name}, row {chunk.row0 + i + 1}: "
                                                f"column {self.header[j]} holds a non-number "
                                                f"({s[:40]!r})") from None
                            col = None
                            break
                    if col is not None:
                        vals = pa.array(col, pa.float64())
            elif pa.types.is_null(t):
                vals = pa.nulls(n, pa.float64())
            if vals is None:
                if strict:
                    raise DataError(f"{self.name}: column {self.header[j]} is not numeric "
                                    f"({t})")
                ok[k] = False
                continue
            x = vals.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
            X[:, k] = x
            seen[k] = bool((~np.isnan(x)).any()) or (vals.null_count < n and n > 0
                                                      and not np.isnan(x).all())
        return X, ok, seen


def open_table(path, block_size=None, arrow=None):
    """A reader for ``path`` ('-': CSV on standard input), chosen by its name."""
    fmt = format_of(path)
    if fmt in ("parquet", "arrow"):
        return ArrowReader(path, fmt)
    return CsvReader(path, "\t" if fmt == "tsv" else ",", block_size=block_size,
                     arrow=arrow)


# ------------------------------------------------------------------------- writers


class _Out:
    def __init__(self, path, binary=True):
        self.path = path
        if path == "-":
            self.fh = sys.stdout.buffer
        else:
            try:
                self.fh = open(path, "wb")
            except OSError as exc:
                raise DataError(f"cannot write {path}: {exc.strerror}") from None

    def close(self):
        if self.fh is sys.stdout.buffer:
            self.fh.flush()
        else:
            self.fh.close()


class CsvWriter:
    """Scored CSV: each input record's bytes, then the added fields."""

    def __init__(self, path, reader, added, delimiter=","):
        self.out = _Out(path)
        self.reader = reader
        self.delim = delimiter.encode()
        self.added = list(added)
        if reader.kind == "csv":
            head = reader.header_bytes
        else:
            head = _csv_line(reader.header, delimiter).encode()
        self.out.fh.write(head + self.delim + self.delim.join(a.encode() for a in self.added)
                          + b"\n")

    def write(self, chunk, keep, score, flag, extra_cols=None, X=None, cols=()):
        """Write the kept rows of a chunk with ``score`` (NaN: empty) and ``flag``
        (0/1, -1: empty) added; ``extra_cols`` is a list of ``(name, values)`` of
        further columns (strings or floats, NaN/None empty), or None."""
        flag = np.asarray(flag, dtype=np.int8)
        if not extra_cols and chunk.data is not None:  # the common case: no str at all
            buf, line_start = float_lines(score)
            self._write_records(chunk, keep, buf, line_start, flag)
            return
        score_text = format_floats(score)
        if extra_cols:
            d = self.delim.decode()
            cells = []
            for _, values in extra_cols:
                values = np.asarray(values)
                if values.dtype.kind == "f":
                    cells.append(format_floats(values))
                else:
                    cells.append(["" if v is None else _csv_line([str(v)], d)
                                  for v in values.tolist()])
            score_text = [d.join((s, "" if f < 0 else str(f)) + tuple(more))
                          for s, f, *more in zip(score_text, flag.tolist(), *cells)]
            flag = np.full(len(score_text), -2, np.int8)
        if chunk.data is not None:
            joined = np.frombuffer("\n".join(score_text).encode("utf-8") + b"\n", np.uint8)
            line_start = np.zeros(len(score_text) + 1, np.int64)
            line_start[1:] = np.flatnonzero(joined == 10) + 1
            self._write_records(chunk, keep, joined, line_start, flag)
        else:
            self._write_batch(chunk, keep, score_text, flag)

    def _write_records(self, chunk, keep, text, line_start, flag):
        """Records with line ``i`` of ``text`` (``line_start``, newline-ended) added."""
        starts, ends = line_start[:-1], line_start[1:] - 1
        keep = np.asarray(keep, dtype=np.bool_)
        size = scored_size(chunk.rec_lo, chunk.rec_hi, keep, starts, ends, flag)
        out = np.empty(size, np.uint8)
        k = join_scored(chunk.arr, chunk.rec_lo, chunk.rec_hi, keep, self.delim[0],
                        text, starts, ends, flag, out)
        self.out.fh.write(out[:k].data)

    def _write_batch(self, chunk, keep, texts, flag):
        import pyarrow as pa
        import pyarrow.csv as pacsv

        idx = np.flatnonzero(keep)
        batch = chunk.batch.take(pa.array(idx))
        buf = io.BytesIO()
        pacsv.write_csv(batch, buf, write_options=pacsv.WriteOptions(
            include_header=False, delimiter=self.delim.decode(), quoting_style="needed"))
        lines = buf.getvalue().split(b"\n")[:-1]
        if len(lines) != idx.size:  # values with newlines: write record by record
            lines = []
            for i in range(idx.size):
                b2 = io.BytesIO()
                pacsv.write_csv(batch.slice(i, 1), b2, write_options=pacsv.WriteOptions(
                    include_header=False, delimiter=self.delim.decode(),
                    quoting_style="needed"))
                lines.append(b2.getvalue()[:-1])
        d = self.delim.decode()
        fl = flag[idx]
        parts = []
        for line, t, f in zip(lines, [texts[i] for i in idx], fl.tolist()):
            tail = t if f == -2 else (f"{t}{d}" + ("" if f < 0 else str(f)))
            parts.append(line + self.delim + tail.encode("utf-8"))
        if parts:
            self.out.fh.write(b"\n".join(parts) + b"\n")

    def close(self):
        self.out.close()


def _csv_line(fields, delimiter=","):
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator="").writerow(fields)
    return buf.getvalue()


class ArrowWriter:
    """Scored Parquet / Arrow IPC: the input's columns plus the added ones.

    From CSV input the modelled columns are written as float64 (the values modelled)
    and every other column as text, exactly as it appears in the file (unquoted).
    """

    def __init__(self, path, fmt, reader, added, float_columns=()):
        self.pa = _pyarrow(f"writing {'Parquet' if fmt == 'parquet' else 'Arrow'} files")
        self.path, self.fmt, self.reader = path, fmt, reader
        self.added = list(added)
        self.float_columns = set(float_columns)
        self._writer = None

    def _table_of(self, chunk, X=None, cols=()):
        pa = self.pa
        if chunk.batch is not None:
            return pa.Table.from_batches([chunk.batch])
        import pyarrow.csv as pacsv

        r = self.reader
        names = [f"c{j}" for j in range(r.width)]
        view = memoryview(chunk.data)[int(chunk.rec_lo[0]): chunk.nbytes]
        t = pacsv.read_csv(
            pa.py_buffer(view),
            read_options=pacsv.ReadOptions(column_names=names),
            parse_options=pacsv.ParseOptions(delimiter=r.delim.decode(),
                                             newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={nm: pa.string() for nm in names},
                strings_can_be_null=False, quoted_strings_can_be_null=False))
        arrays = []
        for j in range(r.width):
            if j in cols and X is not None:
                arrays.append(pa.array(X[:, cols.index(j)], pa.float64()))
            else:
                arrays.append(t.column(j))
        return pa.table(arrays, names=r.header)

    def write(self, chunk, keep, score, flag, extra_cols=None, X=None, cols=()):
        pa = self.pa
        table = self._table_of(chunk, X, list(cols))
        keep = np.asarray(keep, dtype=bool)
        idx = pa.array(np.flatnonzero(keep))
        table = table.take(idx)
        score = np.asarray(score)[keep]
        flag = np.asarray(flag)[keep]
        table = table.append_column(self.added[0], pa.array(score, pa.float64(),
                                                             mask=np.isnan(score)))
        table = table.append_column(self.added[1], pa.array(flag.astype(np.int8),
                                                             pa.int8(), mask=flag < 0))
        for name, values in (extra_cols or []):
            values = np.asarray(values, dtype=object if values.dtype.kind in "OU" else None)
            table = table.append_column(name, pa.array(values[keep]))
        if self._writer is None:
            if self.fmt == "parquet":
                import pyarrow.parquet as pq

                self._writer = pq.ParquetWriter(self.path, table.schema)
            else:
                self._writer = pa.ipc.new_file(self.path, table.schema)
        try:
            self._writer.write_table(table)
        except (pa.ArrowException, ValueError) as exc:
            raise DataError(f"cannot write {self.path}: {exc}") from None

    def close(self):
        if self._writer is not None:
            self._writer.close()


def open_writer(path, reader, added, float_columns=()):
    """A writer for ``path`` (format from its name; '-' is CSV on standard output)."""
    fmt = format_of(path)
    if fmt in ("parquet", "arrow"):
        if path == "-":
            fmt = "csv"
        else:
            return ArrowWriter(path, fmt, reader, added, float_columns)
    delim = "\t" if fmt == "tsv" else ","
    if reader.kind == "csv":
        delim = reader.delim.decode()  # the added fields follow the input's own
    return CsvWriter(path, reader, added, delimiter=delim)


class TableSource(RowSource):
    """The modelled columns of a table file as an Isolation Forest row source.

    ``take`` reads the file once more and parses only the rows asked for;
    ``iter_blocks`` reads it once more, every row (see
    :class:`isoforest.forest.RowSource`). ``rows`` maps the source's rows to the
    file's (the complete rows, when rows with missing values are left out).
    """

    feature_names = None  # as a model fitted on a plain array: no names

    def __init__(self, reopen, cols, n_rows, rows=None):
        self._reopen = reopen
        self.cols = list(cols)
        self.rows = rows
        self.n_samples = int(n_rows if rows is None else rows.shape[0])
        self.n_features = len(self.cols)

    def take(self, rows):
        file_rows = np.asarray(rows, dtype=np.int64)
        if self.rows is not None:
            file_rows = self.rows[file_rows]
        out = np.empty((file_rows.shape[0], self.n_features))
        reader = self._reopen()
        for chunk in reader.chunks():
            a, b = np.searchsorted(file_rows, [chunk.row0, chunk.row0 + chunk.n])
            if a < b:
                out[a:b] = reader.numbers(chunk, self.cols, strict=True,
                                          rows=file_rows[a:b] - chunk.row0)[0]
            if b == file_rows.shape[0]:
                break
        reader.close()
        return out

    def iter_blocks(self):
        reader = self._reopen()
        for chunk in reader.chunks():
            X = reader.numbers(chunk, self.cols, strict=True)[0]
            if self.rows is not None:
                a, b = np.searchsorted(self.rows, [chunk.row0, chunk.row0 + chunk.n])
                X = X[self.rows[a:b] - chunk.row0]
            yield X
        reader.close()
