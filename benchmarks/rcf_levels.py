"""Where a RandomCutForest record's time goes: nanoseconds per tree and record, and
per level of the record's walks, for trees of 32 to 1,024 points.

Usage::

    python benchmarks/rcf_levels.py [--features D] [--trees T] [--records N]

The prequential loop (``score_learn``, one thread) on uniform random records once
the trees are full; a tree's depth is the mean depth of the leaves it holds. The
cost per level staying flat while a tree grows from a few KB (in L1) to ~200 KB (in
L2) says the loop waits on dependent loads and branches, not on the cache. A
diagnostic for docs/known-gaps.md, not a comparison: bench_streaming.py holds the
ratios against rrcf.
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from isoforest import RandomCutForest  # noqa: E402


def mean_leaf_depth(model):
    depths = []
    for t in range(model.n_estimators):
        parent = model._parent[t]
        for leaf in model._slot[t]:
            d, a = 0, leaf
            while parent[a] != -1:
                a = parent[a]
                d += 1
            depths.append(d)
    return float(np.mean(depths))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--features", type=int, default=3)
    parser.add_argument("--trees", type=int, default=40)
    parser.add_argument("--records", type=int, default=40_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    T, n = args.trees, args.records
    X = np.random.RandomState(0).rand(3_000 + n, args.features)
    print("| tree size | KB a tree | ns per tree and record | mean leaf depth | ns per level |")
    print("|---:|---:|---:|---:|---:|")
    for size in (32, 64, 128, 256, 512, 1024):
        best = np.inf
        for _ in range(args.repeat):
            model = RandomCutForest(n_estimators=T, tree_size=size, random_state=0, n_jobs=1)
            model.score_learn(X[:3_000])  # trees full (and compiled)
            t0 = time.perf_counter()
            model.score_learn(X[3_000:])
            best = min(best, time.perf_counter() - t0)
        ns = best / T / n * 1e9
        depth = mean_leaf_depth(model)
        kb = sum(getattr(model, "_" + k)[0].nbytes for k in
                 ("left", "right", "parent", "count", "cut_dim", "cut_val", "lo", "hi")) / 1024
        print(f"| {size} | {kb:.0f} | {ns:.0f} | {depth:.1f} | {ns / depth:.0f} |", flush=True)


if __name__ == "__main__":
    main()
