"""How many examples a property test draws.

``examples(n)`` is ``n`` in a normal run, where the hypothesis profile
``isoforest`` (loaded by ``conftest.py``) derandomizes every property test, so CI sees
the same examples every run. ``make fuzz`` sets ``ISOFOREST_FUZZ=K``: then it is
``K * n``, under the profile ``isoforest-fuzz`` (fresh random examples), and only the
property tests and the seeded fuzzers (marked ``fuzz``) run; ``seed(s)`` gives each
fuzzer ``s`` in a normal run and a fresh seed under ``make fuzz``.
"""

import os
import random

#: K of ``make fuzz`` (1 otherwise).
SCALE = int(os.environ.get("ISOFOREST_FUZZ") or 1)
#: Whether this run is ``make fuzz``'s.
FUZZING = bool(os.environ.get("ISOFOREST_FUZZ"))


def examples(n):
    """``max_examples`` for a property test that draws ``n`` in a normal run."""
    return n * SCALE


def seed(fixed):
    """A seeded fuzzer's seed: ``fixed`` in a normal run, a fresh one under
    ``make fuzz`` (each round then tries other cases; the fuzzer reports its seed)."""
    return random.SystemRandom().randrange(2**31) if FUZZING else fixed
