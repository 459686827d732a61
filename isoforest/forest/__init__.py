"""The isolation forests: estimators, their Numba kernels and the flat forest arrays.

``_iforest`` is the estimator (validation, draws, orchestration), ``_kernels`` the
Numba kernels it calls (NumPy and Numba only), ``_arrays`` the fitted forest as flat
arrays, ``_sampling`` / ``_mt19937`` scikit-learn's random draws, and ``_simd`` the
AVX-512 scoring walk, ``_source`` the row sources a forest can be fitted from.
"""

from ._arrays import ForestArrays, average_path_length
from ._iforest import IsolationForest
from ._eif import EIFArrays, ExtendedIsolationForest
from ._source import ArraySource, RowSource

__all__ = ["IsolationForest", "ExtendedIsolationForest", "EIFArrays", "ForestArrays",
           "average_path_length", "RowSource", "ArraySource"]
