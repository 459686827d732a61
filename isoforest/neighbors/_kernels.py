"""Exact k-nearest-neighbour search in Numba: a flat kd-tree and a blocked brute force.

What LOF calls, gathered from the modules that do each job (NumPy and Numba only,
plain arrays and scalars):

- ``_distances``: metric codes, the reduced distance, the bounded heap;
- ``_kdtree``: the flat kd-tree, built and queried (``build_kdtree``,
  ``kneighbors_kdtree``);
- ``_brute``: the direct brute force, the precomputed one, and
  ``kneighbors_brute``, which picks the search;
- ``_gemm``: the one-block GEMM search and ``BruteIndex``, with the argument that
  its candidates hold every true neighbour;
- ``_symmetric``: the training rows against themselves over the lower triangle of
  block products (``_simd.gemm``'s AVX-512 and AMX tiles where the CPU has them),
  with the argument that it finds the same neighbours;
- ``_scoring``: LOF from the neighbours (NumPy's arithmetic) and the one-row path.

Which neighbours
----------------
The ``K`` neighbours of a query are the ``K`` smallest ``(rdist, index)`` pairs in
lexicographic order: a tie in distance goes to the smaller training index. ``rdist``
is the *reduced* distance (the sum of squares for euclidean, ``sum w |d| ** p`` for
Minkowski, ...), always accumulated over features in order with the same operations
(``_rdist``, or ``_leaf_rdist`` vectorised across a leaf's rows), so the kd-tree,
both brute forces and the reference twin agree to the last bit on the neighbour
sets, their order and their distances.

``exclude_self`` reproduces scikit-learn's rule for ``kneighbors(X=None)``: ``K``
(= ``n_neighbors + 1``) neighbours are searched, then the query's own index is
dropped, or, when ``K`` duplicates with smaller indices crowd it out, the first one.

Layout of a kd-tree (scikit-learn's: a complete binary tree in an array)
-------------------------------------------------------------------------
- ``data_T``     (d, n) float64, the training rows in tree order, one feature per
  row (a leaf's rows are contiguous per feature: its distances vectorise)
- ``idx``        (n,) int64, ``data_T[:, t] == X[idx[t]]``
- ``node_start``, ``node_end`` (n_nodes,) int64, node ``i`` holds rows
  ``start:end`` of the tree order
- ``bound_lo``, ``bound_hi`` (n_nodes, d) float64, the node's bounding box
Node ``i`` has children ``2i + 1`` and ``2i + 2``; nodes ``>= n_nodes // 2`` are
leaves, holding ``leaf_size`` to ``2 * leaf_size`` rows (scikit-learn's layout).
Splits are at the median of the widest feature.

Querying the training rows (``fit``), a leaf's rows (or a small subtree's, when the
leaves are small: ``_GROUP_ROWS_MAX``) form a group that walks the tree once
(``_kdtree_group``); other queries walk it one by one, or, from
``_GROUP_QUERIES_MIN`` rows, as the groups of a kd-tree built over them. Either way
each query prunes with its own K-th pair, so the results do not depend on the
grouping, the leaf size or the thread count.
"""

from ._brute import kneighbors_brute, kneighbors_precomputed
from ._distances import CHEBYSHEV, EUCLIDEAN, MANHATTAN, MINKOWSKI, PRECOMPUTED
from ._gemm import BruteIndex, build_brute_index
from ._kdtree import KDTree, build_kdtree, kdtree_n_levels, kneighbors_kdtree
from ._scoring import (LOCAL_REACHABILITY_DENSITY, NEGATIVE_OUTLIER_FACTOR, OneRowCodes,
                       build_one_row_codes, local_reachability_density,
                       negative_outlier_factor, one_row_lof)

__all__ = [
    "EUCLIDEAN", "MANHATTAN", "CHEBYSHEV", "MINKOWSKI", "PRECOMPUTED", "KDTree",
    "BruteIndex", "build_kdtree", "kdtree_n_levels", "build_brute_index", "OneRowCodes",
    "build_one_row_codes", "kneighbors_kdtree", "kneighbors_brute",
    "kneighbors_precomputed", "LOCAL_REACHABILITY_DENSITY", "NEGATIVE_OUTLIER_FACTOR",
    "local_reachability_density", "negative_outlier_factor", "one_row_lof",
]
