"""Input and parameter validation, worded the way scikit-learn words it.

Nothing here imports scikit-learn, SciPy or pandas: data frames and sparse matrices
are recognised by their attributes, so ``import isoforest`` stays light.
"""

import numbers
import sys
import warnings

import numpy as np

__all__ = [
    "NotFittedError",
    "InvalidParameterError",
    "check_array",
    "check_is_fitted",
    "validate_data",
    "check_random_state",
    "check_sample_weight",
    "default_feature_names",
    "feature_names_of",
]


class NotFittedError(ValueError, AttributeError):
    """Raised when a method that needs a fitted estimator is called before ``fit``.

    Inherits from both ValueError and AttributeError, as scikit-learn's does. When
    scikit-learn is already imported, the error raised is also an instance of
    ``sklearn.exceptions.NotFittedError`` (see ``_not_fitted_error_type``).
    """

    def __reduce__(self):
        return (_rebuild_not_fitted_error, self.args)


_SKLEARN_NOT_FITTED_ERROR = None


def _not_fitted_error_type():
    """isoforest's NotFittedError, subclassing scikit-learn's too once it is loaded.

    scikit-learn is never imported here: only if the caller already imported it.
    """
    global _SKLEARN_NOT_FITTED_ERROR
    if "sklearn" not in sys.modules:
        return NotFittedError
    if _SKLEARN_NOT_FITTED_ERROR is None:
        from sklearn.exceptions import NotFittedError as _SkNotFittedError

        _SKLEARN_NOT_FITTED_ERROR = type(
            "NotFittedError", (NotFittedError, _SkNotFittedError), {"__module__": __name__}
        )
    return _SKLEARN_NOT_FITTED_ERROR


def _rebuild_not_fitted_error(*args):
    return _not_fitted_error_type()(*args)


class InvalidParameterError(ValueError, TypeError):
    """Raised when an estimator parameter has the wrong type or value."""


# ---------------------------------------------------------------------------
# containers recognised by duck typing


def is_sparse(X):
    """True for SciPy sparse matrices and arrays (without importing SciPy)."""
    mod = type(X).__module__ or ""
    return mod.startswith("scipy.sparse") and hasattr(X, "toarray") and hasattr(X, "format")


def is_dataframe(X):
    """True for pandas / polars / pyarrow-like 2-D frames (without importing them)."""
    return (
        not isinstance(X, np.ndarray)
        and hasattr(X, "columns")
        and hasattr(X, "shape")
        and len(getattr(X, "shape", ())) == 2
    )


def get_feature_names(X):
    """Column names of a data frame as an object array, or None (scikit-learn's rule)."""
    if not is_dataframe(X):
        return None
    feature_names = np.asarray(list(X.columns), dtype=object)
    if len(feature_names) == 0:
        return None
    types = sorted(t.__qualname__ for t in set(type(v) for v in feature_names))
    if len(types) > 1 and "str" in types:
        raise TypeError(
            "Feature names are only supported if all input features have string names, "
            f"but your input has {types} as feature name / column name types. "
            "If you want feature names to be stored and validated, you must convert "
            "them all to strings, by using X.columns = X.columns.astype(str) for "
            "example. Otherwise you can remove feature / column names from your input "
            "data, or convert them all to a non-string data type."
        )
    if len(types) == 1 and types[0] == "str":
        return feature_names
    return None


def _frame_to_numpy(X):
    """Convert a data frame to a NumPy array, mapping missing values to NaN."""
    to_numpy = getattr(X, "to_numpy", None)
    if to_numpy is not None:
        dtypes = getattr(X, "dtypes", None)
        try:
            kinds = {np.dtype(d).kind for d in dtypes} if dtypes is not None else set()
        except TypeError:  # pandas extension dtypes (nullable ints, ...)
            kinds = {"O"}
        if kinds and kinds <= set("biuf"):
            return to_numpy()
        try:
            return to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError):
            return to_numpy()
    return np.asarray(X)


# ---------------------------------------------------------------------------
# arrays


def check_array(X, *, estimator_name="Estimator", accept_sparse=False, dtype="float"):
    """Validate a 2-D numeric array the way ``sklearn.utils.check_array`` does.

    Parameters
    ----------
    X : array-like or sparse matrix of shape (n_samples, n_features)
    estimator_name : str
        Named in error messages.
    accept_sparse : bool or "keep"
        True returns SciPy sparse input densified (float32 unless float64); "keep"
        returns it as CSR for the caller to densify a chunk at a time; False refuses
        it with a TypeError.
    dtype : {"float", "float64"}
        ``"float"`` keeps float32 and float64 input as it is (no copy) and casts every
        other dtype straight to float32, exactly as scikit-learn's ``dtype=np.float32``
        conversion rounds it; ``"float64"`` returns float64.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        float32 or float64; NaN and inf are allowed (Isolation Forest accepts them).
    """
    series_type = None
    if is_sparse(X):
        if not accept_sparse:
            raise TypeError(
                "Sparse data was passed for X, but dense data is required. "
                "Use '.toarray()' to convert to a dense numpy array."
            )
        if X.dtype.kind == "c":
            raise ValueError("Complex data not supported\n{}\n".format(X))
        if accept_sparse == "keep":
            X = X.tocsr()
            _check_min_shape(X.shape, estimator_name)
            return X
        X = X.toarray()
        if X.dtype not in (np.float32, np.float64) or dtype == "float64":
            X = X.astype(np.float32 if dtype == "float" else np.float64)
    elif is_dataframe(X):
        X = _frame_to_numpy(X)
    elif hasattr(X, "dtype") and (
        hasattr(X, "iloc") or type(X).__module__.startswith("pandas")
    ):
        series_type = type(X)
        X = np.asarray(X)
    elif not isinstance(X, np.ndarray):
        if hasattr(X, "__array__") or hasattr(X, "__array_interface__"):
            X = np.asarray(X)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("error", np.exceptions.ComplexWarning)
                X = np.asarray(X, dtype=np.float32 if dtype == "float" else np.float64)

    if X.dtype.kind == "c":
        raise ValueError("Complex data not supported\n{}\n".format(X))
    if X.ndim == 0:
        raise ValueError(
            "Expected 2D array, got scalar array instead:\narray={}.\n"
            "Reshape your data either using array.reshape(-1, 1) if "
            "your data has a single feature or array.reshape(1, -1) "
            "if it contains a single sample.".format(X)
        )
    if X.ndim == 1 and series_type is not None:
        raise ValueError(
            f"Expected a 2-dimensional container but got {series_type} "
            "instead. Pass a DataFrame containing a single row (i.e. "
            "single sample) or a single column (i.e. single feature) "
            "instead."
        )
    if X.ndim == 1:
        raise ValueError(
            "Expected 2D array, got 1D array instead:\narray={}.\n"
            "Reshape your data either using array.reshape(-1, 1) if "
            "your data has a single feature or array.reshape(1, -1) "
            "if it contains a single sample.".format(X)
        )
    if X.ndim >= 3:
        raise ValueError(
            "Found array with dim %d, while dim <= 2 is required by %s."
            % (X.ndim, estimator_name)
        )

    if dtype == "float64":
        if X.dtype != np.float64:
            X = X.astype(np.float64)
    elif X.dtype not in (np.float32, np.float64):
        # Direct cast to float32, as scikit-learn does: an int64 cast through float64
        # first could round twice and land on a different float32.
        X = X.astype(np.float32)

    _check_min_shape(X.shape, estimator_name)
    return X


def _check_min_shape(shape, estimator_name):
    n_samples, n_features = shape
    if n_samples < 1:
        raise ValueError(
            "Found array with %d sample(s) (shape=%s) while a minimum of %d is "
            "required by %s." % (n_samples, shape, 1, estimator_name)
        )
    if n_features < 1:
        raise ValueError(
            "Found array with %d feature(s) (shape=%s) while a minimum of %d is "
            "required by %s." % (n_features, shape, 1, estimator_name)
        )


def check_n_features(estimator, n_features, *, reset):
    """Set ``n_features_in_`` (``reset``) or check X's width against it, in
    scikit-learn's words."""
    if reset:
        estimator.n_features_in_ = n_features
    elif n_features != estimator.n_features_in_:
        raise ValueError(
            f"X has {n_features} features, but {estimator.__class__.__name__} "
            f"is expecting {estimator.n_features_in_} features as input."
        )


def check_finite(X, *, allow_nan, input_name="X", estimator_name=None):
    """Raise scikit-learn's ValueError when X holds NaN (unless allowed) or inf, in
    its words (``_assert_all_finite``): the advice on missing values follows only
    for ``input_name == "X"`` with an estimator named; an empty ``input_name`` reads
    "Input contains NaN."."""
    if X.dtype.kind != "f":
        return
    with np.errstate(over="ignore", invalid="ignore"):
        total = np.sum(X)
    if np.isfinite(total):
        return
    has_inf = bool(np.isinf(X).any())
    has_nan_error = not allow_nan and bool(np.isnan(X).any())
    if has_inf or has_nan_error:
        # scikit-learn names NaN first when both are present
        padded = input_name + " " if input_name else ""
        if has_nan_error:
            msg = f"Input {padded}contains NaN."
            if estimator_name and input_name == "X":
                msg += (
                    f"\n{estimator_name} does not accept missing values encoded as NaN"
                    " natively. For supervised learning, you might want to consider"
                    " sklearn.ensemble.HistGradientBoostingClassifier and Regressor which"
                    " accept missing values encoded as NaNs natively. Alternatively, it is"
                    " possible to preprocess the data, for instance by using an imputer"
                    " transformer in a pipeline or drop samples with missing values. See"
                    " https://scikit-learn.org/stable/modules/impute.html"
                    " You can find a list of all estimators that handle NaN values at the"
                    " following page:"
                    " https://scikit-learn.org/stable/modules/impute.html"
                    "#estimators-that-handle-nan-values"
                )
        else:
            msg = f"Input {padded}contains infinity or a value too large for {X.dtype!r}."
        raise ValueError(msg)


def _check_feature_names(estimator, X, *, reset):
    """Set or check ``feature_names_in_``; scikit-learn's messages and warnings."""
    if reset:
        names = get_feature_names(X)
        if names is not None:
            estimator.feature_names_in_ = names
        elif hasattr(estimator, "feature_names_in_"):
            delattr(estimator, "feature_names_in_")
        return

    fitted = getattr(estimator, "feature_names_in_", None)
    names = get_feature_names(X)
    cls = estimator.__class__.__name__
    if fitted is None and names is None:
        return
    if names is not None and fitted is None:
        warnings.warn(f"X has feature names, but {cls} was fitted without feature names")
        return
    if names is None and fitted is not None:
        warnings.warn(
            f"X does not have valid feature names, but {cls} was fitted with feature names"
        )
        return
    if len(fitted) != len(names) or np.any(fitted != names):
        message = "The feature names should match those that were passed during fit.\n"
        unexpected = sorted(set(names) - set(fitted))
        missing = sorted(set(fitted) - set(names))

        def add_names(values):
            out = ""
            for i, name in enumerate(values):
                if i >= 5:
                    out += "- ...\n"
                    break
                out += f"- {name}\n"
            return out

        if unexpected:
            message += "Feature names unseen at fit time:\n" + add_names(unexpected)
        if missing:
            message += "Feature names seen at fit time, yet now missing:\n" + add_names(
                missing
            )
        if not missing and not unexpected:
            message += "Feature names must be in the same order as they were in fit.\n"
        raise ValueError(message)


def validate_data(estimator, X, *, reset, accept_sparse=True, dtype="float"):
    """Validate X for ``fit`` (``reset=True``) or for a fitted method (``reset=False``).

    Checks and records ``n_features_in_`` and ``feature_names_in_`` like
    scikit-learn's ``validate_data``.
    """
    _check_feature_names(estimator, X, reset=reset)
    X = check_array(
        X,
        estimator_name=estimator.__class__.__name__,
        accept_sparse=accept_sparse,
        dtype=dtype,
    )
    check_n_features(estimator, X.shape[1], reset=reset)
    return X


def check_is_fitted(estimator, attribute):
    """Raise NotFittedError, worded as scikit-learn's, unless ``attribute`` is set."""
    if not hasattr(estimator, attribute):
        raise _not_fitted_error_type()(
            f"This {type(estimator).__name__} instance is not fitted yet. Call 'fit' "
            "with appropriate arguments before using this estimator."
        )


def check_random_state(seed):
    """Turn ``None``, an int or a RandomState into a RandomState (legacy MT19937).

    ``None`` returns NumPy's global RandomState, so ``np.random.seed(...)`` makes a
    fit reproducible exactly as it does for scikit-learn.
    """
    if seed is None or seed is np.random:
        return np.random.mtrand._rand
    if isinstance(seed, numbers.Integral):
        return np.random.RandomState(seed)
    if isinstance(seed, np.random.RandomState):
        return seed
    raise ValueError(
        "%r cannot be used to seed a numpy.random.RandomState instance" % seed
    )


def check_sample_weight(sample_weight, n_samples):
    """Validate ``sample_weight`` as a float64 vector of length ``n_samples``."""
    if isinstance(sample_weight, numbers.Number):
        return np.full(n_samples, sample_weight, dtype=np.float64)
    if hasattr(sample_weight, "to_numpy"):
        sample_weight = _frame_to_numpy(sample_weight)
    if isinstance(sample_weight, np.ndarray):
        if sample_weight.dtype.kind == "c":
            raise ValueError("Complex data not supported\n{}\n".format(sample_weight))
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("error", np.exceptions.ComplexWarning)
            sample_weight = np.asarray(sample_weight, dtype=np.float64)
    if sample_weight.ndim != 1:
        raise ValueError(
            f"Sample weights must be 1D array or scalar, got "
            f"{sample_weight.ndim}D array. Expected either a scalar value "
            f"or a 1D array of length {n_samples}."
        )
    if sample_weight.shape != (n_samples,):
        raise ValueError(
            "sample_weight.shape == {}, expected {}!".format(
                sample_weight.shape, (n_samples,)
            )
        )
    if sample_weight.dtype.kind not in "biuf":
        sample_weight = sample_weight.astype(np.float64)
    sample_weight = np.array(sample_weight, dtype=np.float64, copy=True)
    check_finite(sample_weight, allow_nan=False, input_name="sample_weight")
    return sample_weight


def is_dask_collection(X):
    """True when X is a dask collection (array, data frame, series).

    Looks at the type's module first, so no dask import happens for other input;
    ``isoforest.dask`` is loaded only once a dask collection arrives.
    """
    mod = getattr(type(X), "__module__", None) or ""
    if not mod.startswith("dask"):
        return False
    import sys

    dask = sys.modules.get("dask")
    return dask is not None and dask.is_dask_collection(X)


def default_feature_names(n_features):
    """``["x0", "x1", ...]``: the names of columns that have none, wherever isoforest
    names them (explanations, tree exports, plots, alerts, the command line)."""
    return [f"x{j}" for j in range(n_features)]


def feature_names_of(model, n_features):
    """A fitted model's ``feature_names_in_`` as strings, else the default names."""
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        return [str(name) for name in names]
    return default_feature_names(n_features)
