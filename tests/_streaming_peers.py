"""The live peers the streaming forests are checked against, driven as their
documentation drives them: river's prequential loop and rrcf's streaming loop.
Shared by ``test_streaming.py`` (the kernels) and ``test_streaming_twins.py`` (the
naive twins); each test module decides whether a missing peer skips it."""

import numpy as np


def river_hst(n_estimators, height, window_size, limits=None, random_state=None):
    """river's HalfSpaceTrees under isoforest's parameter names."""
    from river import anomaly

    return anomaly.HalfSpaceTrees(n_trees=n_estimators, height=height,
                                  window_size=window_size, limits=limits,
                                  seed=random_state)


def prequential(model, records):
    """river's loop: score each record, then learn it."""
    out = []
    for x in records:
        out.append(float(model.score_one(x)))
        model.learn_one(x)
    return np.array(out)


def rrcf_stream(points, n_estimators, tree_size, random_state):
    """rrcf's documented streaming loop; tree i seeded as RandomCutForest seeds it."""
    import rrcf

    seeds = np.random.RandomState(random_state).randint(np.iinfo(np.int32).max,
                                                        size=n_estimators)
    forest = [rrcf.RCTree(random_state=int(s)) for s in seeds]
    avg_codisp = {}
    for index, point in enumerate(points):
        for tree in forest:
            if len(tree.leaves) > tree_size:
                tree.forget_point(index - tree_size)
            tree.insert_point(point, index=index)
            if index not in avg_codisp:
                avg_codisp[index] = 0
            avg_codisp[index] += tree.codisp(index) / n_estimators
    return np.array([avg_codisp[i] for i in range(len(avg_codisp))], dtype=float)
