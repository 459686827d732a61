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

from ._config import jit

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


@jit
def _temper(y):
    y ^= y >> 11
    y ^= (y << 7) & 0x9D2C5680
    y ^= (y << 15) & 0xEFC60000
    y ^= y >> 18
    return y & MASK32


@jit
def mt_next32(state):
    """The next 32-bit output, tempered."""
    if state[N] >= N:
        _mt_generate(state)
    y = state[state[N]]
    state[N] += 1
    return _temper(y)


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
    mask = rng
    mask |= mask >> 1
    mask |= mask >> 2
    mask |= mask >> 4
    mask |= mask >> 8
    mask |= mask >> 16
    v = mt_next32(state) & mask
    while v > rng:
        v = mt_next32(state) & mask
    return v


@jit
def legacy_permutation_prefix(state, n, k, out):
    """``RandomState.permutation(n)[:k]`` into ``out[:k]``."""
    perm = np.arange(n)
    for i in range(n - 1, 0, -1):
        j = bounded(state, i)
        tmp = perm[i]
        perm[i] = perm[j]
        perm[j] = tmp
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
        for i in range(n_samples):
            while True:
                j = bounded(state, n_population - 1)
                h = (j * 0x9E3779B1) & mask
                while table[h] != -1 and table[h] != j:
                    h = (h + 1) & mask
                if table[h] == -1:
                    table[h] = j
                    break
            out[i] = j
        return
    for i in range(n_samples):
        out[i] = i
    for i in range(n_samples, n_population):
        j = bounded(state, i)
        if j < n_samples:
            out[j] = i


@jit
def seed_from(seed):
    """``RandomState(seed).randint(2**31 - 1)``: the seed scikit-learn hands down."""
    state = np.empty(STATE_SIZE, dtype=np.int64)
    mt_seed(state, seed)
    return bounded(state, 2**31 - 2)


@jit
def uniform_at(seed, needed, out):
    """``out[i] = RandomState(seed).uniform(size=n)[i]`` wherever ``needed[i]``,
    without converting the draws nobody reads.

    The stream is still generated up to the last needed row (MT19937 cannot skip
    ahead cheaply), but only the needed outputs are tempered and made doubles.
    """
    state = np.empty(STATE_SIZE, dtype=np.int64)
    mt_seed(state, seed)
    _mt_generate(state)
    block_start = 0  # stream position of state[0]
    last = -1
    for i in range(needed.shape[0] - 1, -1, -1):
        if needed[i]:
            last = i
            break
    for i in range(last + 1):
        if not needed[i]:
            continue
        p = 2 * i
        while p >= block_start + N:
            _mt_generate(state)
            block_start += N
        a = _temper(state[p - block_start])
        if p + 1 >= block_start + N:
            _mt_generate(state)
            block_start += N
        b = _temper(state[p + 1 - block_start])
        out[i] = ((a >> 5) * 67108864.0 + (b >> 6)) / 9007199254740992.0
