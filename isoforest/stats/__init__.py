"""Per-feature statistics: ``zscore`` and ``ZScoreDetector`` over their kernels."""

from ._zscore import ZScoreDetector, zscore

__all__ = ["ZScoreDetector", "zscore"]
