"""Naive, slow, readable twins of isoforest's kernels, used only by the tests."""
