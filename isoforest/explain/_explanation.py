"""``explain``: per-feature attributions of isoforest's detectors, and their container."""

import numpy as np

from .._validation import check_array, feature_names_of

__all__ = ["Explanation", "explain", "feature_importances"]

#: method names accepted per model family (the first is the default)
_FOREST_METHODS = ("tree_shap", "diffi")
_ZSCORE_METHODS = ("zscore",)
_ALL_METHODS = _FOREST_METHODS + _ZSCORE_METHODS


class Explanation:
    """Per-feature attributions of a set of rows.

    Parameters
    ----------
    values : array-like of shape (n_samples, n_features)
        Attribution of each feature in each row.
    base_values : array-like of shape (n_samples,)
        What the attributions are added to: ``values.sum(axis=1) + base_values`` is
        the explained output (for ``"tree_shap"``, the mean path length).
    data : array-like of shape (n_samples, n_features)
        The rows explained.
    feature_names : list of str
        One name per column.
    method : str
        How the values were computed: ``"tree_shap"``, ``"diffi"`` or ``"zscore"``.

    Attributes
    ----------
    values : ndarray of float64, shape (n_samples, n_features)
    base_values : ndarray of float64, shape (n_samples,)
    data : ndarray of float64, shape (n_samples, n_features)
    feature_names : list of str
    method : str

    See Also
    --------
    explain : makes an Explanation from a fitted detector.

    Examples
    --------
    >>> import numpy as np
    >>> from isoforest import Explanation
    >>> e = Explanation(np.array([[1.0, -2.0]]), np.zeros(1), np.ones((1, 2)),
    ...                 ["a", "b"], "zscore")
    >>> e
    Explanation(method='zscore', n_samples=1, n_features=2)
    >>> e[0].values
    array([[ 1., -2.]])
    """

    def __init__(self, values, base_values, data, feature_names, method):
        self.values = np.asarray(values, dtype=np.float64)
        self.base_values = np.asarray(base_values, dtype=np.float64)
        self.data = np.asarray(data, dtype=np.float64)
        self.feature_names = [str(name) for name in feature_names]
        self.method = str(method)

    def __len__(self):
        return self.values.shape[0]

    def __getitem__(self, rows):
        """The Explanation of a subset of rows (an integer keeps one row, 2-D)."""
        if isinstance(rows, (int, np.integer)):
            n = len(self)
            if not -n <= rows < n:
                raise IndexError(f"index {rows} is out of bounds for an Explanation "
                                 f"of {n} rows")
            rows = slice(rows, rows + 1 if rows != -1 else None)
        elif isinstance(rows, tuple):
            raise TypeError("An Explanation is indexed by rows only; use "
                            ".values[rows, columns] for single entries.")
        return Explanation(self.values[rows], self.base_values[rows], self.data[rows],
                           list(self.feature_names), self.method)

    def __repr__(self):
        return (f"Explanation(method={self.method!r}, n_samples={self.values.shape[0]}, "
                f"n_features={self.values.shape[1]})")

    def to_shap(self):
        """The same arrays as a ``shap.Explanation`` (for shap's plots).

        Returns
        -------
        explanation : shap.Explanation
            ``values``, ``base_values``, ``data`` and ``feature_names`` copied over.

        Raises
        ------
        ImportError
            When shap is not installed.
        """
        try:
            import shap
        except ImportError as exc:
            raise ImportError(
                "Explanation.to_shap needs shap: pip install shap"
            ) from exc
        return shap.Explanation(values=self.values.copy(),
                                base_values=self.base_values.copy(),
                                data=self.data.copy(),
                                feature_names=list(self.feature_names))


def _family(model):
    """``"forest"`` or ``"zscore"``; TypeError for anything else."""
    from ..forest import IsolationForest
    from ..stats import ZScoreDetector
    from ..streaming import HalfSpaceTrees, RandomCutForest

    if isinstance(model, IsolationForest):
        return "forest"
    if isinstance(model, ZScoreDetector):
        return "zscore"
    if isinstance(model, (HalfSpaceTrees, RandomCutForest)):
        return "stream"
    hint = ""
    if type(model).__name__ == "IsolationForest":
        hint = (" A scikit-learn IsolationForest can be wrapped first with "
                "isoforest.IsolationForest.from_sklearn(model).")
    raise TypeError(
        "explain supports isoforest.IsolationForest (method 'tree_shap' or 'diffi'), "
        "isoforest.ZScoreDetector (method 'zscore') and the streaming forests "
        f"(method 'score_shares'); got {type(model).__name__}."
        + hint
    )


def _check_method(method, valid, name="method", where="explain"):
    if not isinstance(method, str) or method not in valid:
        raise ValueError(
            f"The {name!r} parameter of {where} must be a str among "
            f"{sorted(valid)}. Got {method!r} instead."
        )


def _forest_rows(model, X):
    """X validated exactly as ``model.score_samples`` validates it, as dense float64."""
    X = model._validate_for_scoring(X)
    if hasattr(X, "toarray"):
        X = X.toarray()
    return np.ascontiguousarray(X, dtype=np.float64)


def explain(model, X, *, method="tree_shap", n_jobs=None):
    """Per-feature attributions of a fitted detector's output on rows ``X``.

    Parameters
    ----------
    model : isoforest.IsolationForest or isoforest.ZScoreDetector
        A fitted detector.
    X : array-like of shape (n_samples, n_features)
        Rows to explain, validated as ``model.score_samples`` validates them
        (a pandas DataFrame keeps its column names).
    method : {"tree_shap", "diffi"}, default="tree_shap"
        For an IsolationForest: ``"tree_shap"``, exact path-dependent TreeSHAP of
        the mean path length, or ``"diffi"``, DIFFI's local feature importances.
        A ZScoreDetector is explained by its z-scores (``"zscore"``, also what the
        default gives it).
    n_jobs : int, default=None
        Threads for the TreeSHAP kernel; ``None`` uses the model's ``n_jobs``,
        ``-1`` all cores. The values do not depend on it.

    Returns
    -------
    explanation : Explanation
        ``values`` (n_samples, n_features), ``base_values`` (n_samples,), ``data``
        (the rows, float64), ``feature_names`` and ``method``.

    Raises
    ------
    TypeError
        For a model other than those above.
    ValueError
        For an unknown method, or rows ``score_samples`` would refuse (same message).
    NotFittedError
        Before ``fit``.

    Notes
    -----
    ``"tree_shap"`` explains ``E[h(x)]``, the row's path length averaged over the
    trees (each tree contributing ``depth + c(n_node_samples) - 1`` at the leaf the
    row reaches, as ``model.path_lengths(X)``), by path-dependent TreeSHAP (Lundberg,
    Erion & Lee 2018, arXiv:1802.03888; Lundberg et al. 2020, Nature Machine
    Intelligence 2, 56-67), computed exactly with per-leaf tables (Yang 2021, Fast
    TreeSHAP, arXiv:2109.09847) and Gauss-Legendre integrals (Yu et al. 2022,
    Linear TreeShap, NeurIPS):

    - ``values.sum(axis=1) + base_values == model.path_lengths(X).mean(axis=1)``
      (to round-off, about 1e-14);
    - a *negative* value means the feature shortened the row's paths: it made the
      row look *more anomalous* (the anomaly score ``2 ** (-E[h(x)] / c(psi))``
      rises as ``E[h(x)]`` falls);
    - the cover that weights a split's two children when a feature is unknown is
      ``weighted_n_node_samples``, drawn rows with repeats counted, as shap's
      ``TreeExplainer`` uses for a scikit-learn IsolationForest (its
      ``node_sample_weight``). The values equal shap's
      ``TreeExplainer(sklearn_model).shap_values(X.astype(np.float32))`` to about
      1e-14 (shap explains the same mean: each tree's output is scaled by
      ``1 / n_estimators``). Rows go left when ``float32(x) <= threshold``, as in
      scikit-learn's trees; shap compares float64 rows in float64, so a float64
      value that rounds onto a threshold can take the other branch there.
    - ``base_values`` is the cover-weighted mean over leaves, the same for all rows.
      Without bootstrap or sample weights it equals shap's ``expected_value``. With
      them (``weighted_n_node_samples != n_node_samples``) shap's ``expected_value``
      weights leaves by ``n_node_samples`` instead, so shap's values plus its
      ``expected_value`` miss the model output; here they add up exactly.

    ``"zscore"`` returns ``model.zscores(X)`` with base values 0.

    ``"score_shares"`` (HalfSpaceTrees, RandomCutForest) splits each row's anomaly
    score, as ``score_samples`` computes it without learning the row, by
    feature, negated so that ``values.sum(axis=1) == model.score_samples(X)`` (to
    round-off) and a negative value made the row more anomalous. Half-Space Trees:
    each node's mass deficit ``(window_size - mass) * 2**depth`` goes to the
    feature split just above it. Random Cut Forest: a tree's collusive
    displacement goes to the cut dimension where its maximum is reached (a
    shingle's lags summed per feature).

    Examples
    --------
    >>> import numpy as np
    >>> from isoforest import IsolationForest, explain
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(500, 3)
    >>> model = IsolationForest(random_state=0).fit(X)
    >>> row = np.array([[0.0, 8.0, 0.0]])
    >>> e = explain(model, row)
    >>> e.feature_names[int(np.argmin(e.values[0]))]
    'x1'
    >>> bool(np.allclose(e.values.sum(1) + e.base_values,
    ...                  model.path_lengths(row).mean(1), rtol=0, atol=1e-12))
    True
    """
    family = _family(model)
    if family == "stream":
        if method not in ("tree_shap", "score_shares"):
            _check_method(method, ("score_shares",))
        from .._validation import check_is_fitted

        check_is_fitted(model, "n_features_in_")
        data = model._rows(X, reset=False)
        values = -model._explain_rows(data)
        return Explanation(values, np.zeros(values.shape[0]), data,
                           feature_names_of(model, data.shape[1]), "score_shares")
    if family == "zscore":
        if method not in ("tree_shap", "zscore"):
            if method in _ALL_METHODS:
                raise ValueError(
                    f"method={method!r} does not apply to a ZScoreDetector; it is "
                    "explained by its z-scores: method='zscore'."
                )
            _check_method(method, _ZSCORE_METHODS)
        values = model.zscores(X)
        data = check_array(X, estimator_name=type(model).__name__, accept_sparse=False,
                           dtype="float64")
        return Explanation(values, np.zeros(values.shape[0]), data,
                           feature_names_of(model, values.shape[1]), "zscore")

    if method not in _FOREST_METHODS:
        if method in _ALL_METHODS:
            raise ValueError(
                f"method={method!r} does not apply to an IsolationForest; use one of "
                f"{sorted(_FOREST_METHODS)}."
            )
        _check_method(method, _FOREST_METHODS)
    if n_jobs is None:
        n_jobs = model.n_jobs
    if method == "diffi":
        from ._diffi import diffi_local

        model._check_fitted()
        data = _forest_rows(model, X)
        values = np.asarray(diffi_local(model, X, n_jobs=n_jobs), dtype=np.float64)
        return Explanation(values, np.zeros(values.shape[0]), data,
                           feature_names_of(model, data.shape[1]), "diffi")

    from ._treeshap import tree_shap_values

    data = _forest_rows(model, X)
    values, base = tree_shap_values(model, data, n_jobs)
    return Explanation(values, np.full(data.shape[0], base), data,
                       feature_names_of(model, data.shape[1]), "tree_shap")


def feature_importances(model, X, method="diffi"):
    """Global feature importances of a fitted IsolationForest on rows ``X``.

    Parameters
    ----------
    model : isoforest.IsolationForest
        A fitted forest.
    X : array-like of shape (n_samples, n_features)
        For ``"diffi"``: the training data the model was fitted on (global DIFFI
        reads each tree's in-bag rows from it). For ``"tree_shap"``: any rows.
    method : {"diffi", "tree_shap"}, default="diffi"
        ``"diffi"``: DIFFI's global importances (Carletti, Terzi & Susto 2023,
        ``isoforest.explain._diffi.diffi_global``); ``"tree_shap"``: the mean
        absolute TreeSHAP value of each feature over the rows.

    Returns
    -------
    importances : ndarray of float64, shape (n_features,)

    Examples
    --------
    >>> import numpy as np
    >>> from isoforest import IsolationForest, feature_importances
    >>> X = np.random.RandomState(0).randn(300, 4)
    >>> model = IsolationForest(random_state=0).fit(X)
    >>> feature_importances(model, X[:50], method="tree_shap").shape
    (4,)
    """
    if _family(model) != "forest":
        raise TypeError(
            "feature_importances supports isoforest.IsolationForest; got "
            f"{type(model).__name__}."
        )
    _check_method(method, _FOREST_METHODS, where="feature_importances")
    if method == "tree_shap":
        return np.abs(explain(model, X, method="tree_shap").values).mean(axis=0)
    from ._diffi import diffi_global

    model._check_fitted()
    _forest_rows(model, X)
    return np.asarray(diffi_global(model, X, n_jobs=model.n_jobs), dtype=np.float64)
