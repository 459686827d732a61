"""scikit-learn's random draws for bagging, replayed with NumPy's legacy RandomState.

These run in Python because they are cheap (a few draws per tree) and because using
NumPy's own ``RandomState`` makes them identical to scikit-learn's by construction:
the same MT19937 stream, the same masked-rejection ``randint`` and the same legacy
``permutation`` and ``choice``.
"""

import numpy as np

__all__ = ["MAX_INT", "sample_without_replacement", "bagging_indices", "draw_tree"]

#: ``np.iinfo(np.int32).max``: the bound of every seed scikit-learn draws, and
#: ``RAND_R_MAX`` of its trees' xorshift generator.
MAX_INT = 2**31 - 1


def sample_without_replacement(n_population, n_samples, rng):
    """``sklearn.utils.random.sample_without_replacement(method="auto")``, replayed.

    With ``ratio = n_samples / n_population``: a legacy ``permutation`` when
    ``0.01 < ratio < 0.99``; else tracking selection (scalar ``randint`` until an
    unseen value) when ``ratio < 0.2``; else reservoir sampling.
    """
    if n_population < 0:
        raise ValueError(
            "n_population should be greater than 0, got %s." % n_population
        )
    if n_samples > n_population:
        raise ValueError(
            "n_population should be greater or equal than n_samples, got "
            "n_samples > n_population (%s > %s)" % (n_samples, n_population)
        )
    ratio = n_samples / n_population if n_population != 0 else 1.0
    if 0.01 < ratio < 0.99:
        return rng.permutation(n_population)[:n_samples]
    out = np.empty(n_samples, dtype=np.int64)
    randint = rng.randint
    if ratio < 0.2:
        selected = set()
        for i in range(n_samples):
            j = randint(n_population)
            while j in selected:
                j = randint(n_population)
            selected.add(j)
            out[i] = j
    else:
        out[:] = np.arange(n_samples)
        for i in range(n_samples, n_population):
            j = randint(0, i + 1)
            if j < n_samples:
                out[j] = i
    return out


def bagging_indices(seed, n_samples, n_features, max_samples, max_features, bootstrap,
                    sample_weight=None):
    """scikit-learn's ``_generate_bagging_indices`` for one tree: ``RandomState(seed)``
    draws the feature subset, then the row indices (with repeats under bootstrap)."""
    rng = np.random.RandomState(seed)
    features = sample_without_replacement(n_features, max_features, rng)
    if sample_weight is None:
        if bootstrap:
            indices = rng.randint(0, n_samples, max_samples)
        else:
            indices = sample_without_replacement(n_samples, max_samples, rng)
    else:
        p = sample_weight / np.sum(sample_weight)
        indices = rng.choice(n_samples, max_samples, replace=bootstrap, p=p)
    return features, indices


def draw_tree(seed, n_samples, n_features, max_samples, max_features, bootstrap,
              sample_weight=None):
    """Everything random about one tree, drawn from its bagging seed.

    Returns
    -------
    features : ndarray of int64, shape (max_features,)
        The feature subset, in the order the tree sees its columns.
    rows : ndarray of int64
        Distinct drawn rows, increasing (the rows the tree is built on).
    counts : ndarray of float64
        How many times each of ``rows`` was drawn: the tree's sample weights.
    rand_r_state : int
        The initial state of the tree's xorshift generator.
    tree_seed : int
        The ``random_state`` scikit-learn gives the tree estimator.
    """
    features, indices = bagging_indices(seed, n_samples, n_features, max_samples,
                                        max_features, bootstrap, sample_weight)
    # Same rows and multiplicities as scikit-learn's ``bincount(indices)`` weights,
    # without touching all n_samples entries.
    rows, counts = np.unique(np.asarray(indices, dtype=np.int64), return_counts=True)
    tree_seed = np.random.RandomState(seed).randint(MAX_INT)
    rand_r_state = np.random.RandomState(tree_seed).randint(0, MAX_INT)
    return (
        np.asarray(features, dtype=np.int64),
        rows,
        counts.astype(np.float64),
        int(rand_r_state),
        int(tree_seed),
    )
