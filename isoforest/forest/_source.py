"""Row sources: fitting an Isolation Forest from rows that are not all in memory.

A forest reads few rows: each tree draws at most ``max_samples`` of them, so a fit
needs only the row count, the drawn rows (at most ``n_estimators * max_samples``),
and, for a float ``contamination``, one pass over every row to score it. A
:class:`RowSource` gives exactly that; :class:`ArraySource` is the in-memory one.
"""

import operator

import numpy as np

from .._validation import _check_min_shape, check_array, get_feature_names, is_sparse

__all__ = ["RowSource", "ArraySource"]

#: Rows per block that ``ArraySource.iter_blocks`` yields.
BLOCK_ROWS = 65536


class RowSource:
    """The rows of a data set, read on demand: what ``IsolationForest`` fits from.

    This is a protocol: ``IsolationForest.fit`` routes instances of a subclass to
    ``IsolationForest._fit_source``, which accepts any object with these attributes
    and methods (subclassing is not required there). The forest built is the very
    same, bit for bit, as ``fit(X)`` on the full array ``X`` whose rows the source
    serves.

    Attributes
    ----------
    n_samples : int
        Number of rows (at least 1).
    n_features : int
        Number of columns (at least 1); becomes ``n_features_in_``.
    feature_names : ndarray of object of shape (n_features,) or None
        Column names (strings); becomes ``feature_names_in_`` (None: no names, and
        a previous fit's ``feature_names_in_`` is removed).

    Methods
    -------
    take(rows)
        ``rows``: a sorted, unique int64 ndarray of row ids in ``[0, n_samples)``.
        Returns a float32 or float64 ndarray of shape ``(len(rows), n_features)``
        holding those rows in the same order (C-contiguous preferred; anything else
        is copied; other real dtypes are cast to float32 as ``fit`` casts them).
    iter_blocks()
        Yields 2-D float blocks (as ``take`` returns) of all rows, in row order,
        ``n_samples`` rows in all; any block sizes.

    Notes
    -----
    A fit calls ``take`` once, with the union of the rows any new tree draws,
    sorted: at most ``n_estimators * max_samples`` rows (fewer where trees share
    rows; with ``warm_start``, only the new trees' rows). A float ``max_samples``
    close to 1.0 (or an int close to ``n_samples``) makes every tree draw nearly
    every row, and ``take`` then returns nearly the whole data set.
    ``iter_blocks`` is called only for a float ``contamination``: ``offset_`` is the
    percentile of the scores of every training row, so they are all read once more,
    a block at a time. NaN and inf are accepted, as ``fit`` accepts them.

    This is the seam the command line's two-pass detection on a file and the Dask
    fit use: the first pass draws, reads the drawn rows and builds; the second (for
    a float contamination) streams the rows to score them.

    Examples
    --------
    >>> import numpy as np
    >>> from isoforest import IsolationForest
    >>> from isoforest.forest import ArraySource
    >>> X = np.random.RandomState(0).randn(1000, 3)
    >>> a = IsolationForest(random_state=0, contamination=0.1).fit(ArraySource(X))
    >>> b = IsolationForest(random_state=0, contamination=0.1).fit(X)
    >>> bool(a.offset_ == b.offset_)
    True
    """

    n_samples = None
    n_features = None
    feature_names = None

    def take(self, rows):
        """Rows ``rows`` (sorted, unique int64) as a float array, in that order."""
        raise NotImplementedError

    def iter_blocks(self):
        """Yield float blocks of all rows, in order."""
        raise NotImplementedError


class ArraySource(RowSource):
    """A :class:`RowSource` over an in-memory array, sparse matrix or data frame.

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        The rows; validated as ``fit`` validates them (float32 and float64 kept,
        other dtypes cast to float32, NaN and inf accepted). A data frame's string
        column names become ``feature_names``.
    block_rows : int, default=65536
        Rows per block yielded by ``iter_blocks``.

    Examples
    --------
    >>> import numpy as np
    >>> from isoforest.forest import ArraySource
    >>> src = ArraySource(np.arange(12.0).reshape(4, 3))
    >>> src.take(np.array([1, 3]))
    array([[ 3.,  4.,  5.],
           [ 9., 10., 11.]])
    """

    def __init__(self, X, *, block_rows=BLOCK_ROWS):
        self.feature_names = get_feature_names(X)
        self._X = check_array(X, estimator_name=type(self).__name__,
                              accept_sparse="keep")
        self.n_samples, self.n_features = self._X.shape
        self.block_rows = int(block_rows)

    def take(self, rows):
        """The rows ``rows`` (sorted, unique int64 ids), in that order.

        Parameters
        ----------
        rows : ndarray of int64

        Returns
        -------
        block : ndarray of shape (len(rows), n_features)
        """
        block = self._X[np.asarray(rows, dtype=np.int64)]
        if is_sparse(block):
            block = block.toarray()
        return np.ascontiguousarray(block)

    def iter_blocks(self):
        """Yield all rows, ``block_rows`` at a time, in order.

        Yields
        ------
        block : ndarray of shape (n_rows, n_features)
        """
        for start in range(0, self.n_samples, self.block_rows):
            block = self._X[start:start + self.block_rows]
            if is_sparse(block):
                block = block.toarray()
            yield np.ascontiguousarray(block)


def source_shape(source, estimator_name):
    """``(n_samples, n_features)`` of a row source, checked as ``fit`` checks X."""
    try:
        shape = (operator.index(source.n_samples), operator.index(source.n_features))
    except TypeError:
        raise TypeError(
            "A row source needs integer n_samples and n_features, got "
            f"{source.n_samples!r} and {source.n_features!r}."
        ) from None
    _check_min_shape(shape, estimator_name)
    return shape


def source_feature_names(source, n_features):
    """The source's column names as an object array (or None), length checked."""
    names = getattr(source, "feature_names", None)
    if names is None:
        return None
    names = np.asarray(list(names), dtype=object)
    if names.shape != (n_features,):
        raise ValueError(
            f"The row source has {len(names)} feature names for {n_features} features."
        )
    if not all(isinstance(v, str) for v in names):
        raise TypeError("Feature names of a row source must all be strings.")
    return names


def bind_source(est, source):
    """What ``fit`` records of its data, taken from a row source: ``n_features_in_``
    and ``feature_names_in_`` (removed when the source names no columns). Returns
    ``(n_samples, n_features)``."""
    n_samples, n_features = source_shape(source, type(est).__name__)
    names = source_feature_names(source, n_features)
    if names is not None:
        est.feature_names_in_ = names
    elif hasattr(est, "feature_names_in_"):
        del est.feature_names_in_
    est.n_features_in_ = n_features
    return n_samples, n_features


def checked_block(block, n_features, n_rows=None, what="take"):
    """A block from a row source as the kernels read it: 2-D float32/float64,
    C-contiguous, ``n_features`` columns (and ``n_rows`` rows when given)."""
    if is_sparse(block):
        block = block.toarray()
    block = np.asarray(block)
    expected_rows = block.shape[0] if n_rows is None or block.ndim != 2 else n_rows
    if block.ndim != 2 or block.shape != (expected_rows, n_features):
        expected = ("n_rows" if n_rows is None else n_rows, n_features)
        raise ValueError(
            f"The row source's {what}() returned an array of shape {block.shape}, "
            f"expected ({expected[0]}, {expected[1]})."
        )
    if block.dtype.kind == "c":
        raise ValueError("Complex data not supported\n{}\n".format(block))
    if block.dtype not in (np.float32, np.float64):
        block = block.astype(np.float32)  # direct cast, as fit casts X
    return np.ascontiguousarray(block)
