"""CSV records and scored lines the slow way: twins of ``isoforest/io/_tabular_kernels.py``.

Written from the definitions, with Python's own :mod:`csv` module as the authority on
what a record and its fields are (default dialect, ``strict=False``):

* :func:`records` reads the bytes with ``csv.reader`` and returns each non-empty
  record as ``(fields, first line, last line)`` (1-based physical lines), skipping
  the empty lines ``csv.reader`` yields as ``[]``.
* :func:`join_scored` writes a kept record's bytes, the delimiter, its text, its
  flag, and a newline, one record at a time.
"""

import csv
import io

__all__ = ["records", "join_scored"]


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
