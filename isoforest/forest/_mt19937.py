"""A Numba replica of NumPy's legacy ``RandomState`` draws that bagging uses.

Only what scikit-learn's IsolationForest draws per tree from an integer seed is
replicated: seeding (``init_genrand``), 32-bit outputs, the masked-rejection bounded
integers of legacy ``randint``, legacy ``permutation`` (Fisher-Yates driven by
``random_interval``) and ``sample_without_replacement``. Doing these inside Numba
lets every tree draw its rows in parallel without the interpreter; the tests check
every stream against ``numpy.random.RandomState`` itself.

A generator state is an int64 array of length 625: the 624 words of MT19937 (each
in [0, 2**32)) followed by the read position.
"""

import numpy as np

from .._config import jit, jit_inline

N = 624
M = 397
MATRIX_A = 0x9908B0DF
UPPER_MASK = 0x80000000
LOWER_MASK = 0x7FFFFFFF
MASK32 = 0xFFFFFFFF
STATE_SIZE = N + 1


@jit
def mt_seed(state, seed):
    """``RandomState(seed)`` for an int seed in [0, 2**32): MT19937's init_genrand."""
    s = seed & MASK32
    for pos in range(N):
        state[pos] = s
        s = (1812433253 * (s ^ (s >> 30)) + pos + 1) & MASK32
    state[N] = N


@jit
def mt_seed_by_array(state, key):
    """Python's ``random.seed(n)`` for an int n: MT19937's init_by_array over the
    32-bit words of ``abs(n)``, least significant first (``[0]`` for 0)."""
    mt_seed(state, 19650218)
    n_key = key.shape[0]
    i = 1
    j = 0
    for _ in range(N if N > n_key else n_key):
        prev = state[i - 1]
        state[i] = ((state[i] ^ (((prev ^ (prev >> 30)) * 1664525) & MASK32))
                    + key[j] + j) & MASK32
        i += 1
        j += 1
        if i >= N:
            state[0] = state[N - 1]
            i = 1
        if j >= n_key:
            j = 0
    for _ in range(N - 1):
        prev = state[i - 1]
        state[i] = ((state[i] ^ (((prev ^ (prev >> 30)) * 1566083941) & MASK32)) - i) & MASK32
        i += 1
        if i >= N:
            state[0] = state[N - 1]
            i = 1
    state[0] = 0x80000000
    state[N] = N


def python_seed_key(seed):
    """The init_by_array key of Python's ``random.seed(seed)`` for an int seed."""
    n = abs(int(seed))
    words = []
    while True:
        words.append(n & MASK32)
        n >>= 32
        if not n:
            break
    return np.asarray(words, dtype=np.int64)


@jit
def _mt_generate(state):
    for i in range(N - M):
        y = (state[i] & UPPER_MASK) | (state[i + 1] & LOWER_MASK)
        state[i] = state[i + M] ^ (y >> 1) ^ (MATRIX_A if (y & 1) else 0)
    for i in range(N - M, N - 1):
        y = (state[i] & UPPER_MASK) | (state[i + 1] & LOWER_MASK)
        state[i] = state[i + (M - N)] ^ (y >> 1) ^ (MATRIX_A if (y & 1) else 0)
    y = (state[N - 1] & UPPER_MASK) | (state[0] & LOWER_MASK)
    state[N - 1] = state[M - 1] ^ (y >> 1) ^ (MATRIX_A if (y & 1) else 0)
    state[N] = 0


@jit_inline
def _temper(y):
    y ^= y >> 11
    y ^= (y << 7) & 0x9D2C5680
    y ^= (y << 15) & 0xEFC60000
    y ^= y >> 18
    return y & MASK32


# The hot loops below keep the read position in a local variable (written back
# to ``state[N]`` once) and index the state array inline. Helpers taking the
# array cost ten times as much per draw, inlined or not: passing an array touches
# its reference count, and the compiler must assume the array's stores alias the
# position. Each loop spells out the same four lines:
#     if pos >= N: _mt_generate(state); pos = 0    (a refill is rare)
#     v = _temper(state[pos]) & mask; pos += 1     (retry while v > rng)

@jit_inline
def _mask_of(rng):
    mask = rng
    mask |= mask >> 1
    mask |= mask >> 2
    mask |= mask >> 4
    mask |= mask >> 8
    mask |= mask >> 16
    return mask


@jit
def mt_next32(state):
    """The next 32-bit output, tempered."""
    pos = state[N]
    if pos >= N:
        _mt_generate(state)
        pos = 0
    state[N] = pos + 1
    return _temper(state[pos])


@jit
def mt_double(state):
    """Legacy ``random_sample()``: 53 random bits from two outputs."""
    a = mt_next32(state) >> 5
    b = mt_next32(state) >> 6
    return (a * 67108864.0 + b) / 9007199254740992.0


@jit
def bounded(state, rng):
    """A uniform integer in [0, rng] by masked rejection (legacy ``randint`` and
    ``random_interval``, for rng < 2**32)."""
    if rng == 0:
        return 0
    if rng == MASK32:
        return mt_next32(state)
    mask = _mask_of(rng)
    v = mt_next32(state) & mask
    while v > rng:
        v = mt_next32(state) & mask
    return v


@jit
def bounded_many(state, rng, out):
    """``out[i] = bounded(state, rng)`` for every i, in order."""
    if rng == 0 or rng == MASK32:
        for i in range(out.shape[0]):
            out[i] = bounded(state, rng)
        return
    mask = _mask_of(rng)
    pos = state[N]
    for i in range(out.shape[0]):
        while True:
            if pos >= N:
                _mt_generate(state)
                pos = 0
            v = _temper(state[pos]) & mask
            pos += 1
            if v <= rng:
                break
        out[i] = v
    state[N] = pos


@jit
def legacy_permutation_prefix(state, n, k, out):
    """``RandomState.permutation(n)[:k]`` into ``out[:k]``: legacy ``shuffle``, a
    Fisher-Yates pass from the end with ``random_interval`` draws."""
    perm = np.arange(n)
    pos = state[N]
    for i in range(n - 1, 0, -1):
        mask = _mask_of(i)
        while True:
            if pos >= N:
                _mt_generate(state)
                pos = 0
            j = _temper(state[pos]) & mask
            pos += 1
            if j <= i:
                break
        tmp = perm[i]
        perm[i] = perm[j]
        perm[j] = tmp
    state[N] = pos
    for i in range(k):
        out[i] = perm[i]


@jit
def sample_without_replacement(state, n_population, n_samples, out):
    """scikit-learn's ``sample_without_replacement(method="auto")`` into ``out``."""
    if n_population == 0:
        ratio = 1.0
    else:
        ratio = n_samples / n_population
    if 0.01 < ratio < 0.99:
        legacy_permutation_prefix(state, n_population, n_samples, out)
        return
    if ratio < 0.2:
        # tracking selection: redraw until unseen; "seen" is an open-addressing
        # hash set sized to n_samples, so a draw costs O(1) whatever n_population.
        size = 16
        while size < 4 * n_samples:
            size *= 2
        table = np.full(size, -1, dtype=np.int64)
        mask = size - 1
        high = n_population - 1  # ratio < 0.01: n_population > 100 * n_samples
        draw_mask = _mask_of(high)
        pos = state[N]
        for i in range(n_samples):
            while True:
                if pos >= N:
                    _mt_generate(state)
                    pos = 0
                j = _temper(state[pos]) & draw_mask
                pos += 1
                if j > high:
                    continue
                h = (j * 0x9E3779B1) & mask
                while table[h] != -1 and table[h] != j:
                    h = (h + 1) & mask
                if table[h] == -1:
                    table[h] = j
                    break
            out[i] = j
        state[N] = pos
        return
    for i in range(n_samples):
        out[i] = i
    pos = state[N]
    for i in range(n_samples, n_population):
        mask = _mask_of(i)
        while True:
            if pos >= N:
                _mt_generate(state)
                pos = 0
            j = _temper(state[pos]) & mask
            pos += 1
            if j <= i:
                break
        if j < n_samples:
            out[j] = i
    state[N] = pos


@jit
def seed_from(seed):
    """``RandomState(seed).randint(2**31 - 1)``: the seed scikit-learn hands down.

    The first output needs only words 0, 1 and M of the seeded state, so seeding
    stops at word M and no block is generated; the masked draw is rejected only
    when it is 2**31 - 1 (odds 2**-31), and then the full path answers.
    """
    s = seed & MASK32
    w0 = s
    w1 = 0
    for pos in range(M):
        s = (1812433253 * (s ^ (s >> 30)) + pos + 1) & MASK32
        if pos == 0:
            w1 = s
    y = (w0 & UPPER_MASK) | (w1 & LOWER_MASK)
    first = s ^ (y >> 1) ^ (MATRIX_A if (y & 1) else 0)
    v = _temper(first) & 0x7FFFFFFF
    if v <= 2**31 - 2:
        return v
    state = np.empty(STATE_SIZE, dtype=np.int64)
    mt_seed(state, seed)
    return bounded(state, 2**31 - 2)


@jit_inline
def popcount64(x):
    """Set bits of a uint64 (the SWAR sum LLVM turns into one ``popcnt``)."""
    m1 = np.uint64(0x5555555555555555)
    m2 = np.uint64(0x3333333333333333)
    m4 = np.uint64(0x0F0F0F0F0F0F0F0F)
    x = x - ((x >> np.uint64(1)) & m1)
    x = (x & m2) + ((x >> np.uint64(2)) & m2)
    x = (x + (x >> np.uint64(4))) & m4
    return np.int64((x * np.uint64(0x0101010101010101)) >> np.uint64(56))


@jit
def uniform_bits(seed, bits, out):
    """``out[k] = RandomState(seed).uniform(size=n)[r_k]`` for the rows ``r_0 < r_1 <
    ...`` whose bits are set in ``bits`` (uint64 words; row ``r`` is bit ``r & 63``
    of word ``r >> 6``), converting only those draws.

    MT19937 cannot skip ahead cheaply, so the stream is still generated up to the
    last row, but only the needed outputs are tempered and made doubles: row ``r``
    reads outputs ``2r`` and ``2r + 1``, both in block ``r // 312``. The state is
    uint32 here, where the generator vectorises twice as wide as on int64.
    """
    rows_per_block = N // 2
    state = np.empty(STATE_SIZE, dtype=np.uint32)
    mt_seed(state, seed)
    lo = -rows_per_block  # first row of the generated block
    k = 0
    one = np.uint64(1)
    for w in range(bits.shape[0]):
        word = bits[w]
        while word != 0:
            low = word & (~word + one)  # lowest set bit
            word ^= low
            row = w * 64 + popcount64(low - one)
            while row >= lo + rows_per_block:
                _mt_generate(state)
                lo += rows_per_block
            i = 2 * (row - lo)
            a = _temper(np.int64(state[i])) >> 5
            b = _temper(np.int64(state[i + 1])) >> 6
            out[k] = (a * 67108864.0 + b) / 9007199254740992.0
            k += 1
