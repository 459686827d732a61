"""Detectors that learn from the stream itself: no training set, constant memory.

``HalfSpaceTrees`` (river's algorithm) and ``RandomCutForest`` (rrcf's streaming
Robust Random Cut Forest), each an estimator over a Numba kernel (``_hst_kernels``,
``_rcf_kernels``) with a naive twin in ``reference/``; ``_base`` holds what they
share (river's ``learn_one``/``score_one``, scikit-learn's batch methods, the
online threshold). What ``isoforest stream --method hst|rcf`` runs around them
(online scaling, checkpoints) is a job: ``isoforest.jobs._learner``.
"""

from ._hst import HalfSpaceTrees
from ._rcf import RandomCutForest

__all__ = ["HalfSpaceTrees", "RandomCutForest"]
