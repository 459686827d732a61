"""Explanations for the forest family: which features made a row look anomalous.

``explain(model, X)`` returns an :class:`Explanation` (per-feature values, base
values, the rows and feature names): exact path-dependent TreeSHAP of the mean path
length for an IsolationForest (``method="tree_shap"``, default) or DIFFI
(``method="diffi"``), z-scores for a ZScoreDetector. ``feature_importances`` gives
global importances.
"""

from ._explanation import Explanation, explain, feature_importances

__all__ = ["Explanation", "explain", "feature_importances"]
