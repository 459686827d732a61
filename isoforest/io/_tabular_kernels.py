"""Byte-level CSV kernels: find records and fields, and write scored lines.

The record scanner follows Python's :mod:`csv` module (default dialect, comma
delimiter, ``"`` quote, doubled quotes as escapes, ``strict=False``): a quote opens a
quoted field only at the start of a field; inside it, ``""`` is one quote and
newlines belong to the field; text after a closing quote continues the field. A
record ends at ``\\n`` (``\\r\\n`` counts as one terminator). Empty lines are no
records (``csv.reader`` yields ``[]`` for them and readers skip those).

Both kernels work on ``uint8`` views of raw bytes, so text columns are never decoded
and every record's bytes can be written back unchanged.
"""

import numpy as np

from .._config import jit

__all__ = ["scan_csv", "join_scored"]

# scanner states
_START_FIELD, _IN_FIELD, _IN_QUOTED, _QUOTE_IN_QUOTED = 0, 1, 2, 3
# field kinds
PLAIN, QUOTED, COMPLEX = 0, 1, 2


@jit
def scan_csv(buf, final, delim, rec_lo, rec_hi, rec_line, rec_nf, f_lo, f_hi, f_kind):
    """Scan CSV bytes into records and fields; returns ``(n_records, n_fields,
    consumed, newlines, error)``.

    Only complete records are reported: those ended by a newline, and with ``final``
    the one that ends at the end of ``buf``. ``consumed`` is the offset just after the
    last reported record's terminator (``len(buf)`` when ``final``), ``newlines`` the
    number of line breaks before it (LF, CRLF or a lone CR, as :mod:`csv` counts). ``rec_lo/rec_hi`` are a record's bytes without
    its terminator, ``rec_line`` its first line (0-based from ``buf``), ``rec_nf`` its
    number of fields; ``f_lo/f_hi`` are a field's content (inside the quotes for a
    quoted one) and ``f_kind`` 0 plain, 1 quoted, 2 complex (escaped quotes or text
    after the closing quote: decode it with :mod:`csv`). ``error`` is 1 when ``final``
    and the last record's quoted field never closes, 2 when the fields do not fit in
    ``f_lo`` (then ``rec_line[0]`` is the line of the record being read). The record
    arrays must hold ``count(\\n) + count(\\r) + 1`` records.
    """
    n = buf.shape[0]
    n_rec = 0
    n_f = 0
    committed_f = 0
    consumed = 0
    committed_nl = 0
    nl = 0
    state = _START_FIELD
    rec_start = 0
    rec_first_line = 0
    field_start = 0
    field_lo = 0
    field_hi = 0
    kind = PLAIN
    nf = 0
    in_record = False
    i = 0
    while i < n:
        if state == _IN_FIELD:
            # the bulk of a file: plain bytes up to the next delimiter or line break
            while i < n:
                c = buf[i]
                if c == delim or c == 10 or c == 13:
                    break
                i += 1
            if i == n:
                break
        elif state == _IN_QUOTED:
            while i < n:
                c = buf[i]
                if c == 34 or c == 10 or c == 13:
                    break
                i += 1
            if i == n:
                break
        c = buf[i]
        if c == 13 and i + 1 == n and not final:
            break  # a CR at the end: a CRLF cut in two, or a lone CR; read on
        # a line break: LF, CRLF (as one) or a lone CR, as csv.reader splits lines
        brk = 0
        if c == 10:
            brk = 1
        elif c == 13:
            brk = 2 if (i + 1 < n and buf[i + 1] == 10) else 1
        if state == _IN_QUOTED:
            if c == 34:
                state = _QUOTE_IN_QUOTED
                field_hi = i
                i += 1
            elif brk:
                nl += 1
                i += brk
            else:
                i += 1
            continue
        if not in_record:
            if brk:  # an empty line: no record
                nl += 1
                i += brk
                consumed = i
                committed_nl = nl
                continue
            in_record = True
            rec_start = i
            rec_first_line = nl
            nf = 0
            state = _START_FIELD
        if state == _START_FIELD:
            field_start = i
            kind = PLAIN
            if c == 34:
                state = _IN_QUOTED
                kind = QUOTED
                field_lo = i + 1
                i += 1
                continue
            state = _IN_FIELD
            field_lo = i
        elif state == _QUOTE_IN_QUOTED:
            if c == 34:  # a doubled quote: one quote in the value
                kind = COMPLEX
                state = _IN_QUOTED
                i += 1
                continue
            if c != delim and not brk:
                kind = COMPLEX  # text after the closing quote
                state = _IN_FIELD
                i += 1
                continue
        # _IN_FIELD, or a quoted field just closed
        if c == delim or brk:
            if state == _IN_FIELD and kind == PLAIN:
                field_hi = i
            if kind == COMPLEX:
                field_lo = field_start
                field_hi = i
            if n_f >= f_lo.shape[0]:
                # more fields than the caller made room for: a record this long is
                # malformed (the caller sized the arrays from the header)
                rec_line[0] = rec_first_line
                return n_rec, committed_f, consumed, committed_nl, 2
            f_lo[n_f] = field_lo
            f_hi[n_f] = field_hi
            f_kind[n_f] = kind
            n_f += 1
            nf += 1
            if c == delim:
                state = _START_FIELD
                i += 1
                continue
            rec_lo[n_rec] = rec_start
            rec_hi[n_rec] = i
            rec_line[n_rec] = rec_first_line
            rec_nf[n_rec] = nf
            n_rec += 1
            committed_f = n_f
            i += brk
            nl += 1
            consumed = i
            committed_nl = nl
            in_record = False
            state = _START_FIELD
            continue
        i += 1
    error = 0
    if final and in_record:
        if state == _IN_QUOTED:
            error = 1
            rec_line[0] = rec_first_line
            return n_rec, committed_f, consumed, committed_nl, error
        if state == _START_FIELD:  # after a trailing delimiter: an empty field
            kind = PLAIN
            field_lo = n
            field_hi = n
        elif state == _IN_FIELD and kind == PLAIN:
            field_hi = n
        elif kind == COMPLEX:
            field_lo = field_start
            field_hi = n
        if n_f >= f_lo.shape[0]:
            rec_line[0] = rec_first_line
            return n_rec, committed_f, consumed, committed_nl, 2
        f_lo[n_f] = field_lo
        f_hi[n_f] = field_hi
        f_kind[n_f] = kind
        n_f += 1
        nf += 1
        rec_lo[n_rec] = rec_start
        rec_hi[n_rec] = n
        rec_line[n_rec] = rec_first_line
        rec_nf[n_rec] = nf
        n_rec += 1
        committed_f = n_f
        consumed = n
        committed_nl = nl
    elif final:
        consumed = n
        committed_nl = nl
    return n_rec, committed_f, consumed, committed_nl, error


@jit
def join_scored(buf, rec_lo, rec_hi, keep, delim, text, text_lo, text_hi, flag, out):
    """Write each kept record's bytes, the delimiter, its text, then its flag, ``\\n``.

    ``text[text_lo[i]:text_hi[i]]`` is record ``i``'s text (its score); ``flag[i]``
    is 0 or 1 (written after a delimiter), -1 (a delimiter, no digit: an empty
    field) or -2 (nothing: the text holds every added field). ``out`` must be large
    enough (see :func:`scored_size`). Returns the number of bytes written.
    """
    k = 0
    for i in range(rec_lo.shape[0]):
        if not keep[i]:
            continue
        for j in range(rec_lo[i], rec_hi[i]):
            out[k] = buf[j]
            k += 1
        out[k] = delim
        k += 1
        for j in range(text_lo[i], text_hi[i]):
            out[k] = text[j]
            k += 1
        if flag[i] >= -1:
            out[k] = delim
            k += 1
        if flag[i] >= 0:
            out[k] = 48 + flag[i]
            k += 1
        out[k] = 10
        k += 1
    return k


def scored_size(rec_lo, rec_hi, keep, text_lo, text_hi, flag):
    """Bytes :func:`join_scored` writes."""
    extra = (flag >= -1).astype(np.int64) + (flag >= 0)
    return int(((rec_hi - rec_lo + text_hi - text_lo + 2 + extra) * keep).sum())
