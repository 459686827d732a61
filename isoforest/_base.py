"""A small estimator base: scikit-learn's parameter protocol without importing it.

``clone``, ``Pipeline``, ``GridSearchCV`` and ``check_estimator`` need only
``get_params``/``set_params``, ``__sklearn_tags__`` and the fitted-attribute
conventions, so isoforest implements those itself and imports scikit-learn lazily
(only inside ``__sklearn_tags__``, which only scikit-learn calls).
"""

import copy
import inspect
import numbers
from functools import update_wrapper
from types import MethodType

import numpy as np

from ._validation import InvalidParameterError, is_dask_collection

__all__ = ["BaseDetector", "Interval", "Options", "validate_params", "available_if"]



def dask_hook(est, X, method, *args):
    """The one door from an estimator to :mod:`isoforest.dask`: what ``method``
    (``"fit"``, ``"partial_fit"``, ``"score_samples"``, ``"decision_function"`` or
    ``"predict"``) does with the dask collection ``X``. The module is imported here,
    only once a dask collection has arrived, so ``import isoforest`` loads no dask."""
    from . import dask as dask_support

    return dask_support.dispatch(est, X, method, *args)


class _AvailableIf:
    """A method that exists only when ``check(self)`` passes, as scikit-learn's
    ``available_if``: otherwise attribute access raises ``AttributeError("This
    'Cls' has no attribute 'name'")`` from the check's own AttributeError, so
    ``hasattr`` is False and the cause says what to call instead."""

    def __init__(self, fn, check):
        self.fn = fn
        self.check = check
        self.attribute_name = fn.__name__
        update_wrapper(self, fn)

    def _check(self, obj, owner):
        message = f"This {owner.__name__!r} has no attribute {self.attribute_name!r}"
        try:
            ok = self.check(obj)
        except Exception as exc:
            raise AttributeError(message) from exc
        if not ok:
            raise AttributeError(message)

    def __get__(self, obj, owner=None):
        if obj is None:
            # unbound access (documentation, monkeypatching) still works
            def unbound(*args, **kwargs):
                self._check(args[0], owner=owner)
                return self.fn(*args, **kwargs)

            update_wrapper(unbound, self.fn)
            return unbound
        self._check(obj, owner=owner if owner is not None else type(obj))
        return MethodType(self.fn, obj)


def available_if(check):
    """Expose the decorated method only when ``check(self)`` passes (returns true;
    it may raise AttributeError saying why not), as scikit-learn's ``available_if``:
    ``hasattr`` then tells whether the method can be called, and the error names the
    missing attribute with the check's own error as its cause (LOF's ``novelty``,
    ZScoreDetector's ``partial_fit``)."""
    return lambda fn: _AvailableIf(fn, check)


class BaseDetector:
    """Parameter handling and tags shared by isoforest's outlier detectors."""

    # Filled in by subclasses: name -> list of constraints (see ``validate_params``).
    _param_constraints = {}

    @classmethod
    def _get_param_names(cls):
        init = cls.__init__
        if init is object.__init__:
            return []
        sig = inspect.signature(init)
        return sorted(
            p.name
            for p in sig.parameters.values()
            if p.name != "self" and p.kind != p.VAR_KEYWORD
        )

    def get_params(self, deep=True):
        """Get parameters for this estimator.

        Parameters
        ----------
        deep : bool, default=True
            Kept for scikit-learn compatibility; isoforest estimators hold no
            sub-estimators.

        Returns
        -------
        params : dict
            Parameter names mapped to their values.
        """
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params):
        """Set the parameters of this estimator.

        Parameters
        ----------
        **params : dict
            Estimator parameters.

        Returns
        -------
        self : estimator instance
        """
        valid = self._get_param_names()
        for key, value in params.items():
            if key not in valid:
                raise ValueError(
                    f"Invalid parameter {key!r} for estimator {self}. "
                    f"Valid parameters are: {valid!r}."
                )
            setattr(self, key, value)
        return self

    def __repr__(self):
        defaults = {
            p.name: p.default
            for p in inspect.signature(self.__init__).parameters.values()
        }
        changed = []
        for name in self._get_param_names():
            value = getattr(self, name)
            default = defaults.get(name, inspect.Parameter.empty)
            try:
                same = value is default or (
                    type(value) is type(default) and bool(value == default)
                )
            except Exception:  # arrays and the like
                same = False
            if not same:
                changed.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(changed)})"

    def __sklearn_clone__(self):
        params = {k: copy.deepcopy(v) for k, v in self.get_params().items()}
        return type(self)(**params)

    def _validate_params(self):
        validate_params(self._param_constraints, self.get_params(), type(self).__name__)

    # -- scikit-learn tags (only ever called by scikit-learn itself) ---------------
    def __sklearn_tags__(self):
        from sklearn.utils import InputTags, Tags, TargetTags  # lazy on purpose

        return Tags(
            estimator_type="outlier_detector",
            target_tags=TargetTags(required=False),
            transformer_tags=None,
            regressor_tags=None,
            classifier_tags=None,
            input_tags=InputTags(**self._input_tags()),
            non_deterministic=False,
        )

    def _input_tags(self):
        return {"allow_nan": False, "sparse": False}

    def decision_function(self, X):
        """``score_samples(X) - offset_``: negative for outliers, positive for inliers.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The rows to score.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
        """
        if is_dask_collection(X):
            return dask_hook(self, X, "decision_function")
        return self.score_samples(X) - self.offset_

    # numpydoc: each public method documents its own parameters, as scikit-learn's do.
    def predict(self, X):
        """Label rows: -1 for outliers (``decision_function < 0``), +1 for inliers.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The rows to label.

        Returns
        -------
        is_inlier : ndarray of shape (n_samples,)
        """
        if is_dask_collection(X):
            return dask_hook(self, X, "predict")
        decision = self.decision_function(X)
        is_inlier = np.ones_like(decision, dtype=int)
        is_inlier[decision < 0] = -1
        return is_inlier

    def fit_predict(self, X, y=None, **kwargs):
        """Fit the model to X and return -1 for outliers, +1 for inliers.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input samples.
        y : Ignored
            Not used, present for API consistency.
        **kwargs : dict
            Passed to ``fit`` (for example ``sample_weight``).

        Returns
        -------
        y : ndarray of shape (n_samples,)
            1 for inliers, -1 for outliers.
        """
        return self.fit(X, **kwargs).predict(X)


# ---------------------------------------------------------------------------
# parameter constraints, with scikit-learn's wording


class Interval:
    """A numeric interval constraint: ``Interval(int, 1, None, closed="left")``."""

    def __init__(self, kind, left, right, closed):
        self.kind, self.left, self.right, self.closed = kind, left, right, closed

    def _type_ok(self, v):
        # scikit-learn's rules: Integral and Real include bool; RealNotInt is
        # registered for float only (so np.float64 passes, np.float32 does not).
        if self.kind is int:
            return isinstance(v, numbers.Integral)
        if self.kind == "real_not_int":
            return isinstance(v, float)
        return isinstance(v, numbers.Real)

    def is_satisfied_by(self, v):
        if not self._type_ok(v):
            return False
        if self.left is not None:
            if self.closed in ("left", "both"):
                if not v >= self.left:
                    return False
            elif not v > self.left:
                return False
        if self.right is not None:
            if self.closed in ("right", "both"):
                if not v <= self.right:
                    return False
            elif not v < self.right:
                return False
        return True

    def __str__(self):
        type_str = "an int" if self.kind is int else "a float"
        lb = "[" if self.closed in ("left", "both") else "("
        rb = "]" if self.closed in ("right", "both") else ")"
        left = "-inf" if self.left is None else self.left
        right = "inf" if self.right is None else self.right
        if self.kind is not int:
            left = left if isinstance(left, str) else float(left)
            right = right if isinstance(right, str) else float(right)
        return f"{type_str} in the range {lb}{left}, {right}{rb}"


class Options:
    """A set of allowed strings: ``Options({"auto"})``."""

    def __init__(self, options):
        self.options = set(options)

    def is_satisfied_by(self, v):
        return isinstance(v, str) and v in self.options

    def __str__(self):
        opts = ", ".join(repr(o) for o in sorted(self.options))
        return f"a str among {{{opts}}}"


class InstanceOf:
    def __init__(self, *types, names):
        self.types, self.names = types, names

    def is_satisfied_by(self, v):
        return isinstance(v, self.types)

    def __str__(self):
        return " or ".join(f"an instance of '{n}'" for n in self.names)


class NoneConstraint:
    def is_satisfied_by(self, v):
        return v is None

    def __str__(self):
        return "None"


BOOLEAN = InstanceOf(bool, np.bool_, names=("bool", "numpy.bool"))


def _join(constraints):
    parts = []
    for c in constraints:
        s = str(c)
        if isinstance(c, InstanceOf) and len(c.names) > 1:
            parts.extend(f"an instance of '{n}'" for n in c.names)
        else:
            parts.append(s)
    if len(parts) == 1:
        return parts[0]
    return f"{', '.join(parts[:-1])} or {parts[-1]}"


def validate_params(constraints, params, owner):
    """Raise InvalidParameterError, worded as scikit-learn's, for a bad parameter."""
    for name, options in constraints.items():
        value = params[name]
        if any(c.is_satisfied_by(value) for c in options):
            continue
        visible = [c for c in options if not getattr(c, "hidden", False)]
        raise InvalidParameterError(
            f"The {name!r} parameter of {owner} must be {_join(visible)}. "
            f"Got {value!r} instead."
        )


def random_state_constraints():
    return [
        Interval(int, 0, 2**32 - 1, closed="both"),
        InstanceOf(np.random.RandomState, names=("numpy.random.mtrand.RandomState",)),
        NoneConstraint(),
    ]


def verbose_constraints():
    return [Interval(int, 0, None, closed="left"), BOOLEAN]
