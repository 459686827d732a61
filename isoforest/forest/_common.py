"""What the isolation forests share: parameters, max_samples, chunked scoring, the
path-length-to-score map and the offset.

``BaseIsolationForest`` is a mixin over :class:`isoforest._base.BaseDetector`; a
subclass provides ``_path_length_sum(X)`` (total path length of each row over the
trees, summed in tree order) and sets ``_forest``, ``_max_samples`` and
``_denominator`` in ``fit``.
"""

import numbers
import warnings

import numpy as np

from .._base import (
    BOOLEAN,
    InstanceOf,
    Interval,
    NoneConstraint,
    Options,
    random_state_constraints,
    verbose_constraints,
)
from .._validation import is_sparse
from ._arrays import average_path_length
from ._sampling import MAX_INT

__all__ = ["BaseIsolationForest", "COMMON_CONSTRAINTS", "resolve_max_samples",
           "CHUNK_ROWS"]

#: Rows converted at a time when X must be cast or densified before scoring.
CHUNK_ROWS = 16384

#: Parameter constraints every isolation forest has (scikit-learn's wording).
COMMON_CONSTRAINTS = {
    "n_estimators": [Interval(int, 1, None, closed="left")],
    "max_samples": [
        Options({"auto"}),
        Interval(int, 1, None, closed="left"),
        Interval("real_not_int", 0, 1, closed="right"),
    ],
    "contamination": [
        Options({"auto"}),
        Interval(float, 0, 0.5, closed="right"),
    ],
    "bootstrap": [BOOLEAN],
    "n_jobs": [InstanceOf(numbers.Integral, names=("int",)), NoneConstraint()],
    "random_state": random_state_constraints(),
    "verbose": verbose_constraints(),
    "warm_start": [BOOLEAN],
}


def resolve_max_samples(max_samples, n_samples):
    """Rows per tree, as scikit-learn resolves ``max_samples`` (with its warning)."""
    if isinstance(max_samples, str):
        out = min(256, n_samples)
    elif isinstance(max_samples, numbers.Integral):
        if max_samples > n_samples:
            warnings.warn(
                "max_samples (%s) is greater than the "
                "total number of samples (%s). max_samples "
                "will be set to n_samples for estimation."
                % (max_samples, n_samples)
            )
            out = n_samples
        else:
            out = int(max_samples)
    else:
        out = int(max_samples * n_samples)
    if out < 1:
        # A float max_samples can round down to 0 rows: scikit-learn's trees then
        # refuse their all-zero sample weights with this message.
        raise ValueError("Sample weights must contain at least one non-zero number.")
    return out


def depth_limit(max_samples):
    """``ceil(log2(max_samples))``, the paper's height limit (at least 1)."""
    return int(np.ceil(np.log2(max(max_samples, 2))))


class BaseIsolationForest:
    """Scoring and offset shared by the isolation forests (a mixin)."""

    #: dtypes the scoring kernels read directly; other input is cast chunk by chunk
    _score_dtypes = (np.float32, np.float64)
    _score_cast = np.float32

    def _iter_chunks(self, X):
        """Yield (start, stop, block) with blocks the kernels can read directly.

        C-contiguous arrays of a dtype in ``_score_dtypes`` go through without a
        copy; anything else (sparse, Fortran order, strided views, other dtypes) is
        converted a chunk at a time, so scoring never holds a full copy of X.
        """
        n = X.shape[0]
        direct = (
            not is_sparse(X)
            and X.dtype in self._score_dtypes
            and X.flags.c_contiguous
        )
        if direct:
            yield 0, n, X
            return
        for start in range(0, n, CHUNK_ROWS):
            stop = min(start + CHUNK_ROWS, n)
            block = X[start:stop]
            if is_sparse(block):
                block = block.toarray()
            if block.dtype not in self._score_dtypes:
                block = block.astype(self._score_cast)
            yield start, stop, np.ascontiguousarray(block)

    def _warm_start_seeds(self, random_state, keep):
        """The bagging seeds of the trees this fit adds, as ``(n_existing, seeds)``.

        Forgets the previous trees unless ``keep`` (a warm start on compatible
        data); ``seeds`` is None, with scikit-learn's warning, when ``n_estimators``
        adds none. The draws of the ``n_existing`` kept trees are skipped first, so
        a warm start grows the trees one fit of ``n_estimators`` would.
        """
        if not keep:
            self._forest = None
            self._seeds_all = np.empty(0, dtype=np.int64)
        n_existing = 0 if self._forest is None else self._forest.n_trees
        n_more = self.n_estimators - n_existing
        if n_more < 0:
            raise ValueError(
                "n_estimators=%d must be larger or equal to "
                "len(estimators_)=%d when warm_start==True" % (self.n_estimators, n_existing)
            )
        if n_more == 0:
            warnings.warn(
                "Warm-start fitting without increasing n_estimators does not fit new trees."
            )
            return n_existing, None
        if n_existing > 0:
            random_state.randint(MAX_INT, size=n_existing)
        return n_existing, random_state.randint(MAX_INT, size=n_more)

    def _add_trees(self, new, seeds):
        """Append the flat forest ``new``, grown from ``seeds``, to the kept trees."""
        self._forest = type(new).concatenate([self._forest, new])
        self._seeds_all = np.concatenate([self._seeds_all, seeds]).astype(np.int64)

    def _set_denominator(self):
        """``n_trees * c(max_samples)`` as scikit-learn computes it (a 1-element
        array); stored at fit because recomputing it costs more than scoring a row."""
        self._denominator = self._forest.n_trees * average_path_length([self._max_samples])

    def _score(self, X):
        """score_samples on validated X (no feature-name checks)."""
        return depths_to_scores(self._path_length_sum(X), self._denominator)

    def _set_offset(self, X):
        if self.contamination == "auto":
            self.offset_ = -0.5
        else:
            self.offset_ = np.percentile(self._score(X), 100.0 * self.contamination)


def depths_to_scores(depths, denominator):
    """``-2 ** (-depths / denominator)`` in place, as scikit-learn computes it.

    scikit-learn uses 1 in place of the ratio when the denominator is 0 (a single
    training row). The same ufuncs, applied in place, give the same bits without
    three temporary copies.
    """
    if denominator[0] != 0:
        np.divide(depths, denominator, out=depths)
    else:
        depths[:] = 1.0
    np.negative(depths, out=depths)
    np.power(2.0, depths, out=depths)
    np.negative(depths, out=depths)
    return depths
