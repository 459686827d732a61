"""Exact k-nearest neighbours and the Local Outlier Factor built on them.

``_lof`` is the estimator, ``_kernels`` the kd-tree and brute-force kernels.
"""

from ._lof import LocalOutlierFactor

__all__ = ["LocalOutlierFactor"]
