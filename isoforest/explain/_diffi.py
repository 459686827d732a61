"""DIFFI: depth-based feature importances of an Isolation Forest.

Carletti, Terzi & Susto, "Interpretable Anomaly Detection with DIFFI: Depth-based
Feature Importance of Isolation Forest", Engineering Applications of Artificial
Intelligence 119 (2023) 105730 (arXiv:2007.11117). The definitions below follow the
authors' reference code (github.com/mattiacarletti/DIFFI, ``interpretability_module.py``:
``local_diffi``, ``diffi_ib`` and ``_get_iic``) term for term, including the order in
which it adds its terms; the Numba kernels are in ``_diffi_kernels``.
"""

import numpy as np

from .._config import num_threads
from .._validation import is_sparse
from ..forest import IsolationForest
from ..forest._arrays import average_path_length
from . import _diffi_kernels as kernels

__all__ = ["diffi_local", "diffi_global"]


def _check_model(model, name):
    if not isinstance(model, IsolationForest):
        raise TypeError(
            f"{name} expects a fitted isoforest.IsolationForest, got "
            f"{type(model).__name__}."
        )
    model._check_fitted()


def _dense_rows(X):
    """``X`` (validated) as a C-contiguous float32/float64 array, as scoring sees it."""
    if is_sparse(X):
        X = X.toarray()
    X = np.asarray(X)
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float32)
    return np.ascontiguousarray(X)


def _max_path(forest):
    """Longest root-to-leaf path of the forest in nodes (the kernels' buffer size)."""
    return int(forest.depth.max()) if forest.depth.size else 1


def _tree_max_depth(model):
    """h_max of each tree: the height limit it was grown with,
    ``ceil(log2(max(max_samples_, 2)))``."""
    return np.ascontiguousarray(model._tree_max_depth, dtype=np.int64)


def diffi_local(model, X, n_jobs=None):
    """Local DIFFI: per-row, per-feature depth-based importances.

    Parameters
    ----------
    model : isoforest.IsolationForest
        A fitted forest.
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        Rows to explain, validated as ``score_samples`` validates them.
    n_jobs : int, default=None
        Threads; ``None`` uses ``model.n_jobs``. The result is the same bits for
        any value.

    Returns
    -------
    importances : ndarray of float64, shape (n_samples, n_features)
        ``importances[i, j]``: local feature importance (LFI) of feature ``j`` for
        row ``i``; higher means feature ``j`` isolated the row earlier. 0 for a
        feature no tree splits on along the row's paths.

    Notes
    -----
    Local DIFFI (the paper's Section on local interpretability; authors' code
    ``local_diffi``). For each tree ``t`` let ``h_t(x)`` be the depth of the leaf
    reached by ``x`` (edges from the root, without the ``c(n)`` correction used in
    scoring) and ``h_max`` the tree's height limit. Every internal node on the path
    of ``x`` adds

        ``1 / h_t(x) - 1 / h_max``

    to the cumulative feature importance ``I_j`` of its split feature ``j`` and 1
    to the counter ``C_j``; the importance is ``I_j / C_j`` (0 where ``C_j = 0``).
    Trees whose root is a leaf contribute nothing.

    Choices, each matching the reference code:

    - the weight is the same for every node of a path (it depends only on the
      leaf depth); the average over counts makes a feature's LFI the mean credit
      per split on it, not the sum;
    - ``h_max`` is the reference's ``ceil(log2(max_samples))``; here it is the
      height limit each tree was grown with, ``ceil(log2(max(max_samples_, 2)))``,
      which is the same number for an integer ``max_samples <= n_samples`` and also
      defined for ``"auto"``, float ``max_samples`` and a single training row;
    - the paper applies local DIFFI to predicted outliers; it is computed here for
      every row (select ``model.predict(X) == -1`` to follow the paper);
    - with ``max_features < 1`` a tree's split feature is mapped to its column of
      X through ``estimators_features_`` (the reference hands every tree all
      columns and indexes with the tree's own feature id, so it runs only when
      every tree sees all columns);
    - rows are routed as scoring routes them: values rounded to float32, NaN to
      the side recorded at the split.

    Examples
    --------
    >>> import numpy as np
    >>> from isoforest import IsolationForest
    >>> from isoforest.explain._diffi import diffi_local
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(200, 3)
    >>> model = IsolationForest(n_estimators=50, random_state=0).fit(X)
    >>> x = np.array([[0.0, 8.0, 0.0]])  # far out along feature 1
    >>> int(np.argmax(diffi_local(model, x)[0]))
    1
    """
    _check_model(model, "diffi_local")
    X = model._validate_for_scoring(X)
    if n_jobs is None:
        n_jobs = model.n_jobs
    f = model.forest_
    hmax = _tree_max_depth(model)
    out = np.zeros((X.shape[0], model.n_features_in_), dtype=np.float64)
    with num_threads(n_jobs) as threads:
        kernel = kernels.local_diffi if threads > 1 else kernels.local_diffi_serial
        for start, stop, block in model._iter_chunks(X):
            kernel(block, f.tree_offsets, f.global_feature, f.threshold,
                   f.children_left, f.children_right, f.missing_go_to_left,
                   _max_path(f), hmax, out[start:stop])
    return out


# numpydoc: each public function documents its own parameters and has its own
# doctest example, so lines shared with diffi_local repeat.
def diffi_global(model, X, n_jobs=None):
    """Global DIFFI: one depth-based importance per feature (the paper's GFI).

    Parameters
    ----------
    model : isoforest.IsolationForest
        A fitted forest.
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        The training data the model was fitted on (each tree's in-bag rows are
        taken from it by ``model.estimators_samples_``). Validated as
        ``score_samples`` validates rows; a different number of rows than the
        model was fitted on is a ValueError.
    n_jobs : int, default=None
        Threads; ``None`` uses ``model.n_jobs``. The result is the same bits for
        any value.

    Returns
    -------
    importances : ndarray of float64, shape (n_features,)
        GFI of each feature: above 1 when the feature isolates predicted
        outliers more (earlier, with more imbalanced splits) than inliers. ``inf``
        where only outliers give a positive importance, NaN where neither does
        (for instance a feature no tree splits on), as in the reference code.

    Notes
    -----
    Global DIFFI (the paper's Section on global interpretability; authors' code
    ``diffi_ib``, "in-bag"). For each tree ``t``:

    1. Its in-bag rows ``P_t`` (``estimators_samples_[t]``, repeats included under
       ``bootstrap=True``) are split by that tree's own decision function,
       ``-2 ** (-h(x) / c(max_samples_)) - offset_`` with ``h(x)`` the tree's path
       length (leaf depth plus ``c(leaf size)``): negative gives the predicted
       outliers ``P_O,t``, positive the predicted inliers ``P_I,t``; a decision of
       exactly 0 is in neither. A tree with an empty ``P_O,t`` or ``P_I,t`` is
       skipped.
    2. Induced imbalance coefficient (IIC) of each split node ``v``, per subset:
       with ``n`` rows of the subset reaching ``v`` and ``n_l``, ``n_r`` going to
       its children, ``lambda(v)`` is undefined when ``n <= 1``; 0 when ``n_l`` or
       ``n_r`` is 0 (a useless split); otherwise ``l = max(n_l, n_r) / n`` rescaled
       from ``[lo, hi]`` to ``[0.5, 1]``, ``lo = ceil(n/2)/n`` (0.5 for even n),
       ``hi = (n - 1)/n``: ``lambda = (l - lo)/(hi - lo) * 0.5 + 0.5``, and
       ``lambda = l`` when ``lo == hi`` (n = 2 or 3).
    3. For every row of a subset and every node on its path with a defined IIC,
       the node's split feature ``j`` gains ``(1 / h_t(x)) * lambda(v)`` in that
       subset's cumulative importance ``I_j`` (``h_t(x)``: leaf depth in edges) and
       1 in its counter ``C_j``.

    Then ``GFI_j = (I_O,j / C_O,j) / (I_I,j / C_I,j)``, each ratio taken as 0
    where its counter is 0. Sums run over trees, then rows in ``estimators_samples_``
    order, then the path from the root down, one running sum per feature, exactly
    as the reference adds them (the in-bag routing and counting runs in parallel
    over trees; the sum itself is serial so the bits never depend on threads).

    The split into inliers and outliers is each tree's, as in the reference code,
    not ``model.predict(X)``: it is what the tree itself isolates early. With
    ``max_features < 1`` split features are mapped to columns of X through
    ``estimators_features_``. Only ``adjust_iic=True`` (the paper's rescaling)
    is implemented.

    Examples
    --------
    >>> import numpy as np
    >>> from isoforest import IsolationForest
    >>> from isoforest.explain._diffi import diffi_global
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(300, 3)
    >>> X[:15, 2] += 8.0  # the outliers stand out along feature 2
    >>> model = IsolationForest(n_estimators=50, random_state=0).fit(X)
    >>> int(np.argmax(diffi_global(model, X)))
    2
    """
    _check_model(model, "diffi_global")
    X = model._validate_for_scoring(X)
    if X.shape[0] != model._n_samples:
        raise ValueError(
            f"X has {X.shape[0]} samples, but the model was fitted on "
            f"{model._n_samples}: diffi_global needs the training data, whose rows "
            "estimators_samples_ indexes."
        )
    if n_jobs is None:
        n_jobs = model.n_jobs
    X = _dense_rows(X)
    f = model.forest_
    samples = model.estimators_samples_
    sample_offsets = np.zeros(f.n_trees + 1, dtype=np.int64)
    sample_offsets[1:] = np.cumsum([len(s) for s in samples])
    sample_index = (np.concatenate(samples).astype(np.int64) if samples
                    else np.zeros(0, dtype=np.int64))
    if sample_index.size and (sample_index.min() < 0 or sample_index.max() >= X.shape[0]):
        raise ValueError("estimators_samples_ refers to rows X does not have.")

    # Each tree's decision function at each leaf, with the NumPy operations of the
    # reference's decision_function_single_tree, so ties fall the same way.
    c_psi = average_path_length([model.max_samples_])
    with np.errstate(divide="ignore", invalid="ignore"):  # c_psi = 0 for one row
        scores = 2 ** (-f.leaf_value / (1 * c_psi))
        decision = -scores - model.offset_
    node_class = np.zeros(f.n_nodes, dtype=np.int8)
    node_class[decision < 0] = -1
    node_class[decision > 0] = 1

    leaves = np.empty(sample_index.shape[0], dtype=np.int64)
    n_out = np.zeros(f.n_nodes, dtype=np.int64)
    n_in = np.zeros(f.n_nodes, dtype=np.int64)
    iic_out = np.empty(f.n_nodes, dtype=np.float64)
    iic_in = np.empty(f.n_nodes, dtype=np.float64)
    routing = (f.tree_offsets, f.global_feature, f.threshold, f.children_left,
               f.children_right, f.missing_go_to_left)
    max_path = _max_path(f)
    with num_threads(n_jobs) as threads:
        kernel = kernels.diffi_subsets if threads > 1 else kernels.diffi_subsets_serial
        kernel(X, sample_index, sample_offsets, *routing, max_path, node_class, leaves,
               n_out, n_in, iic_out, iic_in)

    n_features = model.n_features_in_
    cfi_out = np.zeros(n_features, dtype=np.float64)
    cfi_in = np.zeros(n_features, dtype=np.float64)
    count_out = np.zeros(n_features, dtype=np.int64)
    count_in = np.zeros(n_features, dtype=np.int64)
    kernels.diffi_accumulate(X, sample_index, sample_offsets, *routing, max_path, node_class,
                             leaves, n_out, n_in, iic_out, iic_in, cfi_out, cfi_in,
                             count_out, count_in)
    with np.errstate(divide="ignore", invalid="ignore"):
        fi_out = np.where(count_out > 0, cfi_out / count_out, 0)
        fi_in = np.where(count_in > 0, cfi_in / count_in, 0)
        return fi_out / fi_in
