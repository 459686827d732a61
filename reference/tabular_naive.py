"""CSV records and scored lines the slow way: twins of ``isoforest/io/_tabular_kernels.py``.

Written from the definitions, with Python's own :mod:`csv` module as the authority on
what a record and its fields are (default dialect, ``strict=False``):

* :func:`records` reads the bytes with ``csv.reader`` and returns each non-empty
  record as ``(fields, first line, last line)`` (1-based physical lines), skipping
  the empty lines ``csv.reader`` yields as ``[]``.
* :func:`join_scored` writes a kept record's bytes, the delimiter, its text, its
  flag, and a newline, one record at a time.
* :func:`float_lines` writes each score as Python's ``repr`` (David Gay's shortest
  round trip, the authority the kernel's 128-bit search is checked against) and its
  tail.
"""

import csv
import io

__all__ = ["records", "join_scored", "float_lines"]


def records(data, delimiter=","):
    """Every non-empty record of CSV bytes: a list of ``(fields, first_line, last_line)``."""
    text = data.decode("utf-8")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    out = []
    last = 0
    for row in reader:
        first = last + 1
        last = reader.line_num
        if row:
            out.append((row, first, last))
    return out


def join_scored(record_bytes, keep, delimiter, texts, flags):
    """The scored lines: ``record + delim + text (+ delim + flag) + '\\n'`` per kept record.

    ``flags[i]`` is 0/1 (written), -1 (an empty field) or -2 (no flag field).
    """
    d = delimiter.encode()
    out = []
    for rec, k, t, f in zip(record_bytes, keep, texts, flags):
        if not k:
            continue
        line = rec + d + t.encode()
        if f >= -1:
            line += d
        if f >= 0:
            line += str(f).encode()
        out.append(line + b"\n")
    return b"".join(out)


def float_lines(values, tails=(b"\n",), cls=None, nan_empty=True):
    """``repr(v) + tails[cls[i]]`` for every value, as bytes (NaN empty with ``nan_empty``)."""
    out = []
    for i, v in enumerate(float(v) for v in values):
        text = "" if (nan_empty and v != v) else repr(v)
        out.append(text.encode() + tails[0 if cls is None else int(cls[i])])
    return b"".join(out)
