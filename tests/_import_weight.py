"""Run by tests/test_compat.py: what ``import isoforest``, fitting and scoring import.

``added``: none of the named packages beyond what Numba loads itself (the baseline:
Numba imported and one function compiled), and never scikit-learn or pandas.
``blocked``: with the named packages made unimportable, isoforest imports, fits
and scores, and never even tries to import them (Numba's own probes are allowed).
Prints "ok".

Usage: python tests/_import_weight.py added|blocked PACKAGE...
"""

import os
import sys

MODE, HEAVY = sys.argv[1], tuple(sys.argv[2:])
attempts = []


def heavy():
    return {m for m in sys.modules if m.split(".")[0] in HEAVY}


class Block:
    """Refuses the named packages, noting which file asked for them."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] not in HEAVY:
            return None
        frame = sys._getframe(1)
        while frame is not None and ("importlib" in frame.f_code.co_filename
                                     or frame.f_code.co_filename.startswith("<frozen")):
            frame = frame.f_back
        attempts.append((name, frame.f_code.co_filename if frame is not None else "?"))
        raise ImportError(f"{name} blocked by test")


def use_isoforest():
    import numpy as np

    import isoforest
    from isoforest import IsolationForest

    X = np.random.RandomState(0).randn(300, 3)
    for n_jobs in (None, 2):
        est = IsolationForest(n_estimators=5, random_state=0, contamination=0.1,
                              n_jobs=n_jobs).fit(X)
        est.score_samples(X), est.predict(X[:3]), est.decision_function(X[:1])
        est.fit_predict(X), est.apply(X[:2]), est.estimators_, est.estimators_samples_
    try:
        IsolationForest().predict(X)
    except isoforest.NotFittedError:
        pass
    try:
        IsolationForest(n_estimators=0).fit(X)
    except isoforest.InvalidParameterError:
        pass
    return isoforest


if MODE == "added":
    import numba
    import numpy as np

    @numba.njit(cache=False)
    def _warm(x):
        return x.sum()

    _warm(np.ones(3))
    baseline = heavy()
    use_isoforest()
    added = sorted(heavy() - baseline)
    assert not added, added
    assert not any(m.split(".")[0] in ("sklearn", "pandas") for m in sys.modules)
elif MODE == "blocked":
    for name in list(sys.modules):
        if name.split(".")[0] in HEAVY:
            del sys.modules[name]
    sys.meta_path.insert(0, Block())
    pkg = os.path.dirname(use_isoforest().__file__)
    ours = [(n, c) for n, c in attempts if c.startswith(pkg)]
    assert not ours, ours
    assert not any(m.split(".")[0] in HEAVY for m in sys.modules)
else:
    raise SystemExit(f"unknown mode {MODE!r}")
print("ok")
