"""ExtendedIsolationForest: isolation by random hyperplanes (Hariri et al. 2021)."""

import numbers
import sys
import time

import numpy as np

from . import _eif_kernels as eif_kernels
from .._simd import eif_walk as _eif_simd
from . import _kernels as forest_kernels
from .._base import BaseDetector, InstanceOf, NoneConstraint
from .._config import effective_n_jobs, num_threads
from .._validation import (
    check_finite,
    check_is_fitted,
    check_random_state,
    validate_data,
)
from ._arrays import FlatForest, leaf_values
from ._common import (
    COMMON_CONSTRAINTS,
    BaseIsolationForest,
    depth_limit,
    resolve_max_samples,
)
from ._sampling import bagging_indices

__all__ = ["ExtendedIsolationForest", "EIFArrays"]

#: Below this many rows, scoring runs on the calling thread.
PARALLEL_MIN_ROWS = 256

#: Names, dtypes and meaning of the per-node arrays (concatenated over trees).
EIF_NODE_FIELDS = (
    ("children_left", np.int64, "tree-local id of the left child; -1 at leaves"),
    ("children_right", np.int64, "tree-local id of the right child; -1 at leaves"),
    ("n_node_samples", np.int64, "training rows (bootstrap repeats counted) at the node"),
    ("depth", np.int64, "node depth, the root counting as 1"),
    ("intercept", np.float64, "go left when x . normal <= intercept; 0 at leaves"),
)


class EIFArrays(FlatForest):
    """All trees of a fitted Extended Isolation Forest, stored flat.

    Attributes
    ----------
    tree_offsets : ndarray of int64, shape (n_trees + 1,)
        Nodes of tree ``t`` are ``tree_offsets[t]:tree_offsets[t + 1]``.
    children_left, children_right, n_node_samples, depth, intercept : ndarray
        Per-node arrays, shape (n_nodes,); see ``EIF_NODE_FIELDS``.
    normal : ndarray of float64, shape (n_nodes, n_features)
        Normal vector of each node's hyperplane (zeros at leaves).
    leaf_value : ndarray of float64, shape (n_nodes,)
        ``depth + c(n_node_samples) - 1``: what a row ending at that leaf adds to
        its total path length (derived, not stored).
    """

    __slots__ = tuple(name for name, _, _ in EIF_NODE_FIELDS) + (
        "normal", "leaf_value", "next_left", "next_right", "n_levels", "_simd_table")
    _NODE_FIELDS = EIF_NODE_FIELDS
    _EXTRA = ("normal", np.float64, True)

    def _derive(self):
        self.leaf_value = leaf_values(self.depth, self.n_node_samples)
        # For the lock-step walk: global child ids, leaves pointing to themselves.
        base = np.repeat(self.tree_offsets[:-1], np.diff(self.tree_offsets))
        ids = np.arange(self.n_nodes, dtype=np.int64)
        leaf = self.children_left == -1
        self.next_left = np.where(leaf, ids, base + self.children_left)
        self.next_right = np.where(leaf, ids, base + self.children_right)
        self.n_levels = int(self.depth.max()) - 1 if self.n_nodes else 0
        self._simd_table = None

    def simd_table(self):
        """The node rows the vector walk reads (``isoforest._simd.eif_walk``), made
        on first use: per node the normal, the intercept, ``next_left * W``,
        ``next_right * W`` (exact in float64) and the leaf value, in rows of
        ``W = _eif_simd.width(n_features)`` slots."""
        if self._simd_table is None:
            nf = self.normal.shape[1]
            w = _eif_simd.width(nf)
            table = np.zeros((self.n_nodes, w), dtype=np.float64)
            table[:, :nf] = self.normal
            table[:, nf] = self.intercept
            table[:, nf + 1] = self.next_left * w
            table[:, nf + 2] = self.next_right * w
            table[:, nf + 3] = self.leaf_value
            eif_kernels.check_simd_table(table, nf)
            self._simd_table = table
        return self._simd_table


# numpydoc: the docstring lists its own parameters and attributes, as each scikit-learn
# estimator's does, so the entries it shares with IsolationForest's repeat them.
class ExtendedIsolationForest(BaseIsolationForest, BaseDetector):
    """Extended Isolation Forest: isolation by random hyperplanes.

    Each tree isolates rows by recursive random cuts, as in Isolation Forest, but a
    cut is a hyperplane with a random normal vector (standard normal coordinates,
    ``n_features - 1 - extension_level`` of them set to zero) through a point drawn
    uniformly in the bounding box of the rows at the node. Axis-parallel cuts leave
    bands and crosses in the score map; random slopes remove them.

    Parameters
    ----------
    n_estimators : int, default=100
        The number of trees in the ensemble.
    max_samples : "auto", int or float, default="auto"
        Rows drawn to build each tree, resolved as in :class:`IsolationForest`
        (``min(256, n_samples)`` for "auto").
    contamination : "auto" or float, default="auto"
        Expected proportion of outliers, in (0, 0.5]: -0.5 as ``offset_`` for
        "auto", else that percentile of training scores.
    extension_level : int or None, default=None
        Coordinates of each normal vector left non-zero, minus one: 0 cuts parallel
        to the axes (Isolation Forest's cuts, with its own random stream), and
        ``None`` means ``n_features - 1`` (full extension). Must lie in
        ``[0, n_features - 1]``.
    bootstrap : bool, default=False
        Draw rows with replacement (repeats count toward leaf sizes).
    n_jobs : int, default=None
        Threads used to build trees and to score rows. ``None`` means 1, ``-1`` all
        cores. Results never depend on it.
    random_state : int, RandomState instance or None, default=None
        Seeds every draw: one bagging seed per tree, drawn as
        :class:`IsolationForest` draws them.
    verbose : int, default=0
        Print build time (to stderr).
    warm_start : bool, default=False
        Keep the previous fit's trees and add ``n_estimators - n_trees`` new ones.

    Attributes
    ----------
    forest_ : EIFArrays
        All trees as flat arrays (``tree_offsets``, ``children_left``/``right``,
        ``n_node_samples``, ``depth``, ``normal``, ``intercept``, ``leaf_value``).
    extension_level_ : int
        The extension level used.
    max_samples_ : int
        The actual number of rows drawn per tree.
    offset_ : float
        ``decision_function = score_samples - offset_``.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names, when ``X`` is a data frame with string column names.
    estimators_samples_ : list of ndarray
        The rows drawn for each tree.

    See Also
    --------
    isoforest.IsolationForest : Axis-parallel cuts, scikit-learn's trees.

    Notes
    -----
    S. Hariri, M. Carrasco Kind and R. J. Brunner, "Extended Isolation Forest",
    IEEE TKDE 33(4), 2021 (arXiv:1811.02141). The score is
    ``-2 ** (-E[h(x)] / c(max_samples))``, with ``h(x)`` the depth of the leaf a row
    reaches plus ``c(n)`` for the ``n`` training rows in it.

    Choices the paper leaves open: a node whose rows are all identical is a leaf
    (no hyperplane can separate them); a hyperplane may leave one side empty, and
    that empty child is a leaf of size 0; ties ``x . n == intercept`` go left; NaN
    and infinity are refused; X is used in float64; with one feature the only
    extension level is 0 and a cut is a threshold. Trees draw their rows exactly as Isolation Forest does
    (``isoforest.forest._sampling.bagging_indices``, replayed in its Numba bagging
    kernel; with ``bootstrap`` the repeats count as rows), then
    every cut from ``RandomState(RandomState(seed).randint(2**31 - 1))``, in the
    order given in ``isoforest.forest._eif_kernels``. The readable reference is
    ``reference/eif_naive.py``.

    Examples
    --------
    >>> import numpy as np
    >>> from isoforest import ExtendedIsolationForest
    >>> X = np.random.RandomState(0).randn(200, 2)
    >>> clf = ExtendedIsolationForest(random_state=0).fit(X)
    >>> clf.predict([[0.0, 0.0], [6.0, 6.0]])
    array([ 1, -1])
    """

    _score_dtypes = (np.float64,)
    _score_cast = np.float64

    _param_constraints = dict(COMMON_CONSTRAINTS) | {
        "extension_level": [InstanceOf(numbers.Integral, names=("int",)),
                            NoneConstraint()],
    }

    # Written out beside IsolationForest.__init__: scikit-learn's get_params reads each
    # estimator's own explicit keyword signature.
    def __init__(
        self,
        *,
        n_estimators=100,
        max_samples="auto",
        contamination="auto",
        extension_level=None,
        bootstrap=False,
        n_jobs=None,
        random_state=None,
        verbose=0,
        warm_start=False,
    ):
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.contamination = contamination
        self.extension_level = extension_level
        self.bootstrap = bootstrap
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start

    def _input_tags(self):
        return {"allow_nan": False, "sparse": True}

    def _validate_X(self, X, reset):
        X = validate_data(self, X, reset=reset, accept_sparse=True, dtype="float64")
        if hasattr(X, "toarray"):
            X = X.toarray()
        X = np.ascontiguousarray(X, dtype=np.float64)
        check_finite(X, allow_nan=False, estimator_name=self.__class__.__name__)
        return X

    def fit(self, X, y=None):
        """Fit the forest.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training rows, used as float64. NaN and infinity are refused.
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        self : ExtendedIsolationForest
            The fitted estimator.
        """
        self._validate_params()
        X = self._validate_X(X, reset=True)
        n_samples, n_features = X.shape
        if self.extension_level is None:
            extension_level = n_features - 1
        else:
            extension_level = int(self.extension_level)
            if not 0 <= extension_level <= n_features - 1:
                raise ValueError(
                    f"extension_level must be in [0, n_features - 1] = "
                    f"[0, {n_features - 1}], got {extension_level}.")
        max_samples = resolve_max_samples(self.max_samples, n_samples)
        max_depth = depth_limit(max_samples)

        random_state = check_random_state(self.random_state)
        keep = (self.warm_start and getattr(self, "_forest", None) is not None
                and self._forest.normal.shape[1] == n_features
                and getattr(self, "extension_level_", None) == extension_level
                and getattr(self, "_max_samples", None) == max_samples)
        n_existing, seeds = self._warm_start_seeds(random_state, keep)
        if seeds is not None:
            t0 = time.perf_counter()
            new = self._grow(X, seeds, max_samples, n_features - 1 - extension_level,
                             max_depth)
            if self.verbose:
                print(f"[ExtendedIsolationForest] built {len(seeds)} trees in "
                      f"{time.perf_counter() - t0:.3f} s", file=sys.stderr)
            self._add_trees(new, seeds)
        self.extension_level_ = extension_level
        self.max_samples_ = max_samples
        self._max_samples = max_samples
        self._n_samples = n_samples
        self._set_denominator()
        self._set_offset(X)
        return self

    def _grow(self, X, seeds, max_samples, n_zero, max_depth):
        """One tree per bagging seed; returns an EIFArrays."""
        n_samples, n_features = X.shape
        n_trees = len(seeds)
        # The draw's arrays are set up as in IsolationForest._grow; the two builders then use
        # the draws differently (here rows expanded by their counts, then concatenated).
        # Isolation Forest's own bagging kernel (scikit-learn's draws, parallel over
        # trees): distinct rows with their multiplicities, and the tree seed
        # RandomState(seed).randint(2**31 - 1) that the cuts are drawn from. A tree's
        # result depends only on its multiset of rows, not their order.
        seeds = np.asarray(seeds, dtype=np.int64)
        drawn = np.empty((n_trees, max_samples), dtype=np.int64)
        counts = np.zeros((n_trees, max_samples), dtype=np.float64)
        n_rows = np.empty(n_trees, dtype=np.int64)
        tree_seeds = np.empty(n_trees, dtype=np.int64)
        features = np.empty((n_trees, n_features), dtype=np.int64)
        rand_r = np.empty(n_trees, dtype=np.int64)
        parallel = effective_n_jobs(self.n_jobs) > 1 and n_trees > 1
        with num_threads(self.n_jobs):
            (forest_kernels.draw_trees if parallel else forest_kernels.draw_trees_serial)(
                seeds, n_samples, n_features, max_samples, n_features,
                bool(self.bootstrap), features, drawn, counts, n_rows, tree_seeds,
                rand_r)
        if self.bootstrap:
            rows = [np.repeat(drawn[t, :n_rows[t]], counts[t, :n_rows[t]].astype(np.int64))
                    for t in range(n_trees)]
        else:
            rows = [drawn[t, :n_rows[t]] for t in range(n_trees)]
        row_offsets = np.zeros(n_trees + 1, dtype=np.int64)
        row_offsets[1:] = np.cumsum([len(r) for r in rows])
        rows = np.ascontiguousarray(np.concatenate(rows))
        capacity = np.asarray([eif_kernels.tree_capacity(int(n), max_depth)
                               for n in np.diff(row_offsets)], dtype=np.int64)
        node_offsets = np.zeros(n_trees + 1, dtype=np.int64)
        node_offsets[1:] = np.cumsum(capacity)
        total = int(node_offsets[-1])
        out = {name: np.empty(total, dtype) for name, dtype, _ in EIF_NODE_FIELDS}
        normal = np.empty((total, n_features), dtype=np.float64)
        node_counts = np.zeros(n_trees, dtype=np.int64)
        builder = eif_kernels.build_forest if parallel else eif_kernels.build_forest_serial
        with num_threads(self.n_jobs):
            builder(X, rows, row_offsets, tree_seeds, int(n_zero), int(max_depth),
                    node_offsets, out["children_left"], out["children_right"],
                    out["n_node_samples"], out["depth"], normal, out["intercept"],
                    node_counts)
        keep = np.concatenate([np.arange(node_offsets[t], node_offsets[t] + node_counts[t])
                               for t in range(n_trees)])
        tree_offsets = np.zeros(n_trees + 1, dtype=np.int64)
        tree_offsets[1:] = np.cumsum(node_counts)
        return EIFArrays(tree_offsets, normal[keep],
                         **{k: v[keep] for k, v in out.items()})

    # ------------------------------------------------------------- scoring
    def _check_fitted(self):
        check_is_fitted(self, "offset_")

    def _validate_for_scoring(self, X):
        self._check_fitted()
        return self._validate_X(X, reset=False)

    def _path_length_sum(self, X):
        f = self._forest
        out = np.zeros(X.shape[0], dtype=np.float64)
        parallel = effective_n_jobs(self.n_jobs) > 1
        simd = _eif_simd.available() and X.shape[1] <= _eif_simd.MAX_FEATURES
        if simd:
            simd_parallel, simd_serial = eif_kernels.simd_path_length_kernels(X.shape[1])
        for start, stop, block in self._iter_chunks(X):
            if stop - start < eif_kernels.BLOCK:
                eif_kernels.path_length_sum_serial(block, f.tree_offsets, f.children_left,
                                                   f.children_right, f.normal, f.intercept,
                                                   f.leaf_value, out[start:stop])
                continue
            if simd:
                kernels = (simd_parallel, simd_serial)
                args = (block, f.simd_table(), f.tree_offsets, f.n_levels, out[start:stop])
            else:
                kernels = (eif_kernels.path_length_sum_blocked,
                           eif_kernels.path_length_sum_blocked_serial)
                args = (block, f.tree_offsets, f.next_left, f.next_right, f.normal,
                        f.intercept, f.leaf_value, f.n_levels, out[start:stop])
            if parallel and stop - start >= PARALLEL_MIN_ROWS:
                with num_threads(self.n_jobs):
                    kernels[0](*args)
            else:
                kernels[1](*args)
        return out

    def score_samples(self, X):
        """Opposite of the anomaly score (lower is more abnormal).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Rows to score (float64; NaN and infinity refused).

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            ``-2 ** (-mean path length / c(max_samples_))``, in [-1, 0).
        """
        return self._score(self._validate_for_scoring(X))

    # apply and path_lengths mirror IsolationForest's: numpydoc docstrings per estimator,
    # and apply walks hyperplanes (eif_kernels) where IsolationForest's walks axis cuts.
    def apply(self, X):
        """Leaf reached by each row in each tree.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        leaves : ndarray of int64, shape (n_samples, n_estimators)
            Tree-local node ids.
        """
        X = self._validate_for_scoring(X)
        f = self._forest
        out = np.empty((X.shape[0], f.n_trees), dtype=np.int64)
        with num_threads(self.n_jobs):
            eif_kernels.apply_forest(X, f.tree_offsets, f.children_left, f.children_right,
                                     f.normal, f.intercept, out)
        return out

    def path_lengths(self, X):
        """Path length of each row in each tree, ``h(x) + c(leaf size)``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        lengths : ndarray of float64, shape (n_samples, n_estimators)
        """
        leaves = self.apply(X)
        f = self._forest
        return f.leaf_value[leaves + f.tree_offsets[:-1]]

    @property
    def forest_(self):
        self._check_fitted()
        return self._forest

    @property
    def estimators_samples_(self):
        self._check_fitted()
        return [np.asarray(bagging_indices(int(s), self._n_samples, self.n_features_in_,
                                           self._max_samples, self.n_features_in_,
                                           self.bootstrap)[1])
                for s in self._seeds_all]

    def __sklearn_is_fitted__(self):
        return hasattr(self, "offset_")
