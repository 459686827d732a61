"""Exact k-nearest neighbours and the Local Outlier Factor built on them.

``_lof`` is the estimator; ``_kernels`` is the entry that lists the kernel modules,
one per job (distances and heaps, the kd-tree, brute force, the GEMM search, the
symmetric search, LOF scoring).
"""

from ._lof import LocalOutlierFactor

__all__ = ["LocalOutlierFactor"]
