"""Byte-level CSV kernels: find records and fields, and write scored lines.

The record scanner follows Python's :mod:`csv` module (default dialect, comma
delimiter, ``"`` quote, doubled quotes as escapes, ``strict=False``): a quote opens a
quoted field only at the start of a field; inside it, ``""`` is one quote and
newlines belong to the field; text after a closing quote continues the field. A
record ends at ``\\n`` (``\\r\\n`` counts as one terminator). Empty lines are no
records (``csv.reader`` yields ``[]`` for them and readers skip those).

Both kernels work on ``uint8`` views of raw bytes, so text columns are never decoded
and every record's bytes can be written back unchanged. :func:`write_floats` writes
the scores themselves: Python's ``repr`` of each float, byte for byte, where exact
128-bit integer arithmetic can prove it (nearly every score), and asks the caller to
use ``repr`` for the rest.
"""

import math

import numpy as np

from .._config import jit, jit_inline

__all__ = ["scan_csv", "join_scored", "scored_size", "write_floats", "FLOAT_TEXT_MAX"]

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
    and the last record's quoted field never closes, 2 when one record's fields do
    not fit in ``f_lo`` (then ``rec_line[0]`` is the line of that record), 3 when the
    arrays are full after ``n_records`` complete records (not an error: scan again
    from ``consumed``).

    Every write is checked against its array's length (``rec_*`` must hold at least
    one record), so no input and no array size makes the kernel write out of bounds:
    the caller sizes the arrays to bound its memory, not to fit the input.
    """
    n = buf.shape[0]
    cap_r = min(rec_lo.shape[0], rec_hi.shape[0], rec_line.shape[0], rec_nf.shape[0])
    cap_f = min(f_lo.shape[0], f_hi.shape[0], f_kind.shape[0])
    if cap_r < 1:
        return 0, 0, 0, 0, 3
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
            if n_f >= cap_f or (brk and n_rec >= cap_r):
                # no room: stop after the last complete record, or (none yet) a
                # record with more fields than the arrays hold
                if n_rec > 0:
                    return n_rec, committed_f, consumed, committed_nl, 3
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
        # The loop's field and record commit, written out for the last record (it ends at n,
        # not at a break byte): the scanner's counters are locals a helper could not update.
        if n_f >= cap_f or n_rec >= cap_r:
            if n_rec > 0:
                return n_rec, committed_f, consumed, committed_nl, 3
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


# ------------------------------------------------------------------ float formatting

#: Most bytes :func:`write_floats` writes for one value (sign, 16 integer digits,
#: the point, up to 22 decimals), before its tail.
FLOAT_TEXT_MAX = 40
_POW5 = np.array([5 ** i for i in range(28)], dtype=np.uint64)
_MANT_MASK = np.uint64((1 << 52) - 1)
_HIDDEN = np.uint64(1 << 52)
_M32 = np.uint64(0xFFFFFFFF)


@jit_inline
def _mul_64x64(a, b):
    """(high, low) 64-bit halves of the 128-bit product of two uint64."""
    a_lo = a & _M32
    a_hi = a >> np.uint64(32)
    b_lo = b & _M32
    b_hi = b >> np.uint64(32)
    ll = a_lo * b_lo
    lh = a_lo * b_hi
    hl = a_hi * b_lo
    hh = a_hi * b_hi
    mid = (ll >> np.uint64(32)) + (lh & _M32) + (hl & _M32)
    lo = (ll & _M32) | (mid << np.uint64(32))
    hi = hh + (lh >> np.uint64(32)) + (hl >> np.uint64(32)) + (mid >> np.uint64(32))
    return hi, lo


@jit_inline
def _candidate(m, e, even, s):
    """The nearest multiple of ``10**-s`` to ``x = m * 2**e``, as ``(status, q)``:
    ``q * 10**-s`` is that decimal (ties to even ``q``); status 1 when it reads back
    as ``x`` (round to nearest, ties to even), 0 when it does not, -1 when the
    numbers leave 64 bits (the caller gives up on ``x``).

    With ``T = m * 5**s``, ``x * 10**s = T * 2**(s + e)``; at scale ``2**k``
    (``k = -(s + e)``) the candidate sits ``dist`` from ``T`` and half of ``x``'s
    ulp is ``5**s / 2``: it reads back as ``x`` when ``2 * dist < 5**s`` (``<=`` for
    an even mantissa, whose ties come back to it).
    """
    p5 = _POW5[s]
    hi, lo = _mul_64x64(m, p5)
    shift = s + e
    if shift >= 0:  # x * 10**s is an integer: exact
        if hi != 0 or shift > 10 or lo >= (np.uint64(1) << np.uint64(62 - shift)):
            return -1, np.uint64(0)
        return 1, lo << np.uint64(shift)
    k = -shift
    if k > 64:
        # in the domain (x >= 1e-4) this needs s < 2, where x * 10**s < 1/2: q = 0
        return 0, np.uint64(0)
    if k == 64:
        q = hi
        r = lo
        half = np.uint64(1) << np.uint64(63)
    else:
        uk = np.uint64(k)
        if (hi >> uk) != 0:
            return -1, np.uint64(0)
        q = (hi << np.uint64(64 - k)) | (lo >> uk)
        r = lo & ((np.uint64(1) << uk) - np.uint64(1))
        half = np.uint64(1) << np.uint64(k - 1)
    if r > half or (r == half and (q & np.uint64(1)) == 1):
        q += np.uint64(1)
        dist = half - (r - half)  # 2**k - r, without forming 2**k
    else:
        dist = r
    if dist >= (np.uint64(1) << np.uint64(62)):
        return 0, q
    twice = dist << np.uint64(1)
    if twice < p5 or (even and twice == p5):
        return 1, q
    return 0, q


@jit
def write_floats(values, bits, nan_empty, tails, tail_len, cls, out, line_start, fallback):
    """Write each value's ``repr`` followed by ``tails[cls[i]]``; returns bytes written.

    ``bits`` is ``values.view(np.uint64)``. Line ``i`` starts at
    ``out[line_start[i]]`` (``line_start[n]`` is the end).
    ``repr`` of a finite float with ``1e-4 <= |x| < 2**52`` is fixed-point, with
    the fewest decimals that read back as ``x`` (a decimal no shorter, and the
    nearest one, when several are as short): found here by trying decimals
    ``s`` upward or downward from 16 significant digits, each candidate checked
    exactly (:func:`_candidate`; reading back is monotone in ``s``). Any other
    value (NaN, inf, zero, tiny or huge, powers of two, whose rounding interval is
    lopsided) gets ``fallback[i] = 1`` and only its tail: the caller writes
    ``repr`` at ``line_start[i]``. NaN with ``nan_empty`` is written as nothing.
    ``out`` needs ``n * (FLOAT_TEXT_MAX + tail_len.max())`` bytes.
    """
    n = values.shape[0]
    digits = np.empty(24, dtype=np.uint8)
    k = 0
    for i in range(n):
        line_start[i] = k
        fallback[i] = 0
        x = values[i]
        ax = abs(x)
        b = bits[i]
        ok = False
        if ax >= 1e-4 and ax < 4503599627370496.0 and (b & _MANT_MASK) != 0:
            m = (b & _MANT_MASK) | _HIDDEN
            e = np.int64((b >> np.uint64(52)) & np.uint64(0x7FF)) - 1075
            even = (m & np.uint64(1)) == 0
            e10 = np.int64(math.floor(math.log10(ax)))
            s = max(0, 15 - e10)
            st, q = _candidate(m, e, even, s)
            if st == 1:  # shorter ones may read back too
                while s > 0:
                    st2, q2 = _candidate(m, e, even, s - 1)
                    if st2 != 1:
                        break
                    s -= 1
                    q = q2
                ok = True
            else:
                while st == 0 and s < 22:
                    s += 1
                    st, q = _candidate(m, e, even, s)
                ok = st == 1
            if ok:
                nd = 0
                while q > 0:
                    digits[nd] = np.uint8(48 + q % np.uint64(10))
                    q //= np.uint64(10)
                    nd += 1
                if x < 0:
                    out[k] = 45
                    k += 1
                if nd <= s:  # 0.000ddd
                    out[k] = 48
                    out[k + 1] = 46
                    k += 2
                    for _ in range(s - nd):
                        out[k] = 48
                        k += 1
                    for j in range(nd - 1, -1, -1):
                        out[k] = digits[j]
                        k += 1
                else:
                    for j in range(nd - 1, s - 1, -1):
                        out[k] = digits[j]
                        k += 1
                    out[k] = 46
                    k += 1
                    if s == 0:
                        out[k] = 48
                        k += 1
                    for j in range(s - 1, -1, -1):
                        out[k] = digits[j]
                        k += 1
        if not ok and not (nan_empty and x != x):
            fallback[i] = 1
        c = cls[i]
        for j in range(tail_len[c]):
            out[k] = tails[c, j]
            k += 1
    line_start[n] = k
    return k
