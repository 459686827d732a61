"""Local Outlier Factor the slow way: a teaching twin of isoforest's LOF.

Breunig, Kriegel, Ng & Sander (2000), "LOF: Identifying Density-Based Local
Outliers" (SIGMOD), for a data set D, an object p and a whole number k:

- Definition 3, *k-distance(p)*: the distance d(p, o) to an object o of D such that
  at least k objects o' in D \\ {p} have d(p, o') <= d(p, o) and at most k - 1 have
  d(p, o') < d(p, o). (The distance to the k-th nearest other object.)
- Definition 4, *k-distance neighbourhood* N_k(p): the objects q of D \\ {p} with
  d(p, q) <= k-distance(p). It has k members, or more when several tie at the
  k-distance.
- Definition 5, *reachability distance*: reach-dist_k(p, o) =
  max(k-distance(o), d(p, o)).
- Definition 6, *local reachability density*: lrd_k(p) = 1 / (sum of
  reach-dist_k(p, o) over o in N_k(p), divided by |N_k(p)|).
- Definition 7, *local outlier factor*: LOF_k(p) = (sum of lrd_k(o) / lrd_k(p) over
  o in N_k(p)) / |N_k(p)|. About 1 inside a cluster, large for outliers.

``lof_paper`` follows these definitions literally. scikit-learn (and isoforest)
differ in three ways that matter only with tied distances or duplicates, and
``lof_training_scores`` / ``lof_novelty_scores`` follow them:

1. N_k(p) holds exactly k objects: the k nearest by (distance, index), ties broken
   by the smaller index (scikit-learn's own tie order is its tree's).
2. "Other than p" means other than p's *index*: the k + 1 nearest rows are found and
   p's own index removed, or the first of them when k + 1 duplicates of p with
   smaller indices leave p out.
3. lrd = 1 / (mean reach-dist + 1e-10), so that a point with more than k duplicates
   gets a huge but finite density instead of a division by zero.

A new point x (novelty detection) is scored against the training set D with the
training points' k-distances and lrds; x itself is not in D.

Everything here is plain Python on Python floats (IEEE doubles), one small function
per definition, O(n^2) on purpose. Distances are summed over features in order, as
isoforest's kernels do, so the neighbour indices *and distances* of the kernels are
expected to equal these to the last bit.
"""

import math

import numpy as np

__all__ = [
    "distance",
    "reduced_distance",
    "nearest_neighbors",
    "k_distance",
    "reachability_distance",
    "local_reachability_density",
    "local_outlier_factor",
    "lof_training_scores",
    "lof_novelty_scores",
    "lof_paper",
]

#: scikit-learn's guard in the local reachability density.
LRD_EPSILON = 1e-10


# -------------------------------------------------------------------- distances
def reduced_distance(x, y, metric="euclidean", p=2.0, w=None):
    """The distance before its final root: sum of squares for euclidean, sum of
    ``w_f |x_f - y_f| ** p`` for minkowski, the largest |x_f - y_f| for chebyshev,
    the sum of |x_f - y_f| for manhattan. Summed in feature order."""
    acc = 0.0
    for f in range(len(x)):
        diff = float(x[f]) - float(y[f])
        if metric == "euclidean":
            acc += diff * diff
        elif metric == "manhattan":
            acc += abs(diff)
        elif metric == "chebyshev":
            acc = max(acc, abs(diff))
        elif metric == "minkowski":
            weight = 1.0 if w is None else float(w[f])
            acc += weight * abs(diff) ** p
        else:
            raise ValueError(f"unknown metric {metric!r}")
    return acc


def distance(x, y, metric="euclidean", p=2.0, w=None):
    """d(x, y) for the metrics of ``reduced_distance``."""
    r = reduced_distance(x, y, metric, p, w)
    if metric == "euclidean":
        return math.sqrt(r)
    if metric == "minkowski":
        return r ** (1.0 / p)
    return r


# ------------------------------------------------------------------- neighbours
def nearest_neighbors(X_train, X_query=None, k=20, metric="euclidean", p=2.0, w=None):
    """The k nearest training rows of each query, by (distance, index).

    ``X_query=None`` queries the training rows themselves and leaves each one out
    by index (rule 2 of the module docstring). Returns (distances, indices) as
    (n_queries, k) arrays.
    """
    exclude_self = X_query is None
    queries = X_train if exclude_self else X_query
    n_train = len(X_train)
    wanted = k + 1 if exclude_self else k
    if wanted > n_train:
        raise ValueError("not enough training rows")
    all_dist, all_ind = [], []
    for i, q in enumerate(queries):
        ranked = sorted(
            (reduced_distance(q, X_train[j], metric, p, w), j) for j in range(n_train)
        )[:wanted]
        if exclude_self:
            positions = [pos for pos, (_, j) in enumerate(ranked) if j == i]
            del ranked[positions[0] if positions else 0]
        reduced = [r for r, _ in ranked]
        # the root of the reduced distance, as ``distance`` takes it
        if metric == "euclidean":
            dists = [math.sqrt(r) for r in reduced]
        elif metric == "minkowski":
            dists = [r ** (1.0 / p) for r in reduced]
        else:
            dists = reduced
        all_dist.append(dists)
        all_ind.append([j for _, j in ranked])
    return np.array(all_dist, dtype=np.float64).reshape(len(queries), k), np.array(
        all_ind, dtype=np.int64).reshape(len(queries), k)


# ------------------------------------------------------------------ definitions
def k_distance(train_distances):
    """Definition 3 for every training row: the distance to its k-th neighbour."""
    return [row[-1] for row in train_distances.tolist()]


def reachability_distance(d_po, k_distance_o):
    """Definition 5: reach-dist_k(p, o) = max(k-distance(o), d(p, o))."""
    return max(k_distance_o, d_po)


def local_reachability_density(distances, indices, train_k_distance, epsilon=LRD_EPSILON):
    """Definition 6 (with scikit-learn's epsilon) for each row of ``distances``."""
    lrd = []
    for dist_row, ind_row in zip(distances.tolist(), indices.tolist()):
        reach = [reachability_distance(d, train_k_distance[o])
                 for d, o in zip(dist_row, ind_row)]
        lrd.append(1.0 / (sum(reach) / len(reach) + epsilon))
    return lrd


def local_outlier_factor(indices, lrd_query, lrd_train):
    """Definition 7 for each query: the mean of lrd(o) / lrd(p) over its neighbours."""
    lof = []
    for ind_row, lrd_p in zip(indices.tolist(), lrd_query):
        ratios = [lrd_train[o] / lrd_p for o in ind_row]
        lof.append(sum(ratios) / len(ratios))
    return lof


# ---------------------------------------------------------------- whole models
def _effective_k(n_neighbors, n_train):
    return max(1, min(n_neighbors, n_train - 1))


def lof_training_scores(X, n_neighbors=20, metric="euclidean", p=2.0, w=None):
    """scikit-learn's ``negative_outlier_factor_`` (the opposite of the LOF) of the
    training rows, with the rules of the module docstring. Returns (scores, dict of
    the intermediate quantities: distances, indices, k_distance, lrd)."""
    X = np.asarray(X, dtype=np.float64)
    k = _effective_k(n_neighbors, len(X))
    distances, indices = nearest_neighbors(X, None, k, metric, p, w)
    kdist = k_distance(distances)
    lrd = local_reachability_density(distances, indices, kdist)
    lof = local_outlier_factor(indices, lrd, lrd)
    parts = {"distances": distances, "indices": indices, "k_distance": kdist, "lrd": lrd}
    return -np.array(lof), parts


def lof_novelty_scores(X_train, X_new, n_neighbors=20, metric="euclidean", p=2.0,
                       w=None):
    """scikit-learn's novelty ``score_samples``: the opposite LOF of new rows with
    respect to the training rows (which keep their own k-distances and lrds)."""
    X_train = np.asarray(X_train, dtype=np.float64)
    X_new = np.asarray(X_new, dtype=np.float64)
    _, parts = lof_training_scores(X_train, n_neighbors, metric, p, w)
    k = _effective_k(n_neighbors, len(X_train))
    distances, indices = nearest_neighbors(X_train, X_new, k, metric, p, w)
    lrd_new = local_reachability_density(distances, indices, parts["k_distance"])
    return -np.array(local_outlier_factor(indices, lrd_new, parts["lrd"]))


def lof_paper(X, k, metric="euclidean", p=2.0, w=None):
    """LOF_k of every row of X exactly as Breunig et al. define it: neighbourhoods
    include every tie at the k-distance, "other objects" means other rows, and there
    is no epsilon (a row with k duplicates has an infinite lrd; NaN/inf may result).
    Returns the LOF itself (not its opposite)."""
    X = np.asarray(X, dtype=np.float64)
    n = len(X)
    d = [[distance(X[i], X[j], metric, p, w) for j in range(n)] for i in range(n)]
    kdist, neighbourhood = [], []
    for i in range(n):
        others = sorted(d[i][j] for j in range(n) if j != i)
        kd = others[k - 1]  # Definition 3
        kdist.append(kd)
        neighbourhood.append([j for j in range(n) if j != i and d[i][j] <= kd])  # Def. 4
    lrd = []
    for i in range(n):
        reach = [reachability_distance(d[i][o], kdist[o]) for o in neighbourhood[i]]
        mean_reach = sum(reach) / len(reach)
        lrd.append(math.inf if mean_reach == 0 else 1.0 / mean_reach)  # Def. 6
    lof = []
    for i in range(n):
        ratios = [lrd[o] / lrd[i] for o in neighbourhood[i]]  # Def. 7
        lof.append(sum(ratios) / len(ratios))
    return np.array(lof)
