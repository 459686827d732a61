"""isoforest: classic anomaly detection on a Numba core, with scikit-learn's answers.

>>> from isoforest import IsolationForest
"""

from ._iforest import IsolationForest
from ._lof import LocalOutlierFactor
from ._io import ModelFileError, load_model, save_model
from ._zscore import ZScoreDetector, zscore
from ._validation import InvalidParameterError, NotFittedError

__version__ = "0.1.0"

__all__ = [
    "IsolationForest",
    "LocalOutlierFactor",
    "ZScoreDetector",
    "zscore",
    "save_model",
    "load_model",
    "ModelFileError",
    "NotFittedError",
    "InvalidParameterError",
    "__version__",
]
