"""Run by tests/test_compat.py: a pickled model, loaded in a fresh process, scores
and predicts, and unpickling it imports no scikit-learn.

Usage: python tests/_unpickle_and_score.py MODEL.pkl X.npy SCORES.npy PRED.npy
"""

import pickle
import sys

import numpy as np

with open(sys.argv[1], "rb") as f:
    est = pickle.load(f)
X = np.load(sys.argv[2])
np.save(sys.argv[3], est.score_samples(X))
np.save(sys.argv[4], est.predict(X))
assert "sklearn" not in sys.modules, "unpickling imported scikit-learn"
