"""isoforest: classic anomaly detection on a Numba core, with scikit-learn's answers.

>>> from isoforest import IsolationForest

The package is laid out by family: ``isoforest.forest`` (isolation forests),
``isoforest.neighbors`` (LOF), ``isoforest.stats`` (z-scores), ``isoforest.streaming``
(forests that learn from a stream), ``isoforest.explain``
(TreeSHAP and DIFFI explanations), ``isoforest.io`` (model files and tabular data),
with ``cli`` and ``stream`` as the command-line front ends.
"""

from .forest import IsolationForest
from .forest import ExtendedIsolationForest
from .forest._export import export_graphviz
from .forest._export import export_text
from .forest._export import tree_structure
from .explain import Explanation, explain, feature_importances
from .io import ModelFileError, load_model, save_model
from .neighbors import LocalOutlierFactor
from .stats import ZScoreDetector, zscore
from .streaming import HalfSpaceTrees, RandomCutForest
from ._validation import InvalidParameterError, NotFittedError
from ._config import config_context, get_config, set_config
from ._runtime import show_config

__version__ = "0.1.0"

__all__ = [
    "IsolationForest",
    "ExtendedIsolationForest",
    "export_text",
    "export_graphviz",
    "tree_structure",
    "LocalOutlierFactor",
    "ZScoreDetector",
    "zscore",
    "HalfSpaceTrees",
    "RandomCutForest",
    "explain",
    "Explanation",
    "feature_importances",
    "save_model",
    "load_model",
    "ModelFileError",
    "NotFittedError",
    "InvalidParameterError",
    "get_config",
    "set_config",
    "config_context",
    "show_config",
    "__version__",
]
