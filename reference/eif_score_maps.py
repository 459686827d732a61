"""Score maps of IsolationForest and ExtendedIsolationForest on two blobs, side by side.

Usage::

    python reference/eif_score_maps.py --out DIR

Writes ``DIR/eif_score_maps.png``: the data (two 2-D normal blobs) and the anomaly
score ``-score_samples`` on a grid, for axis-parallel cuts (IsolationForest) and
random hyperplanes (ExtendedIsolationForest, full extension). The axis-parallel map
shows the bands and the "ghost" crosses between the blobs that Hariri et al. (2021,
fig. 2 and 7) describe; the extended map follows the blobs.
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from isoforest import ExtendedIsolationForest, IsolationForest  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--grid", type=int, default=200)
    args = parser.parse_args(argv)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("the score maps need matplotlib: pip install isoforest[plot]") from None

    rng = np.random.RandomState(0)
    X = np.vstack([rng.normal(size=(500, 2)) + [10, 0], rng.normal(size=(500, 2)) + [0, 10]])
    lim = (-5, 15)
    g = np.linspace(*lim, args.grid)
    xx, yy = np.meshgrid(g, g)
    grid = np.c_[xx.ravel(), yy.ravel()]
    models = [("IsolationForest (axis-parallel cuts)", IsolationForest(random_state=0)),
              ("ExtendedIsolationForest (extension_level=1)",
               ExtendedIsolationForest(random_state=0))]
    fig, axes = plt.subplots(1, 2, figsize=(11, 5), constrained_layout=True)
    for ax, (title, model) in zip(axes, models):
        s = -model.fit(X).score_samples(grid).reshape(xx.shape)
        im = ax.contourf(xx, yy, s, levels=30, cmap="viridis_r")
        ax.scatter(X[:, 0], X[:, 1], s=2, c="k", alpha=0.4)
        ax.set_title(title)
        ax.set_aspect("equal")
        fig.colorbar(im, ax=ax, shrink=0.8, label="anomaly score")
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "eif_score_maps.png")
    fig.savefig(path, dpi=100)
    print(path)


if __name__ == "__main__":
    main()
