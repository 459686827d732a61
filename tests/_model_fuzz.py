"""Mutate model files and use every mutant that loads (run by test_model_fuzz.py in a
subprocess, so that a crash is a dead process, not a dead test run).

    python tests/_model_fuzz.py WORK N_EACH SEED MODEL_FILE...

For each model file: random bit flips, truncations, and valid archives whose arrays
or metadata were changed and their checksums recomputed (as a forger without a key
would): one value changed, an array one element shorter or longer, two arrays of
the same dtype swapped, an array blown up to a million elements, a fitted number
changed. Each mutant is loaded; one that loads is used as its kind is used (scored;
a streaming forest also learns from new records and scores again). Prints ``TRY
label`` before each mutant (the last one names the culprit of a crash) and a final
``REPORT {json}``: how many were refused and used, and any exception other than
``ModelFileError`` while loading, or any exception at all while using a model that
loaded.
"""

import json
import sys

import numpy as np

from isoforest import HalfSpaceTrees, IsolationForest, ModelFileError, RandomCutForest, load_model
from isoforest.io._model_files import _digest

STREAMING = (HalfSpaceTrees, RandomCutForest)


def queries(rng, n_features, allow_nan):
    X = rng.randn(24, n_features) * 3.0
    X[3] = 1e300
    X[4] = -1e300
    if allow_nan:
        X[::5, 0] = np.nan
        X[6] = np.inf
    return X


def use(model, rng):
    n = model.n_features_in_
    if n > 4096:
        # a file may claim many columns its trees never split on (legal, and too
        # wide to query here): it must still refuse rows of another width
        try:
            model.score_samples(np.zeros((2, 3)))
        except ValueError as exc:
            assert "features" in str(exc), exc
            return
        raise AssertionError(f"a model of {n} features scored 3 columns")
    X = queries(rng, n, allow_nan=isinstance(model, IsolationForest))
    if isinstance(model, STREAMING):
        s = model.score_samples(X)
        learned = model.score_learn(X)
        again = model.score_samples(X)
        assert s.shape == learned.shape == again.shape == (X.shape[0],)
        return
    s = model.score_samples(X)
    d = model.decision_function(X)
    p = model.predict(X)
    assert s.shape == d.shape == p.shape == (X.shape[0],)
    assert set(np.unique(p)) <= {-1, 1}


def main():
    work, n_each, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    paths = sys.argv[4:]
    rng = np.random.RandomState(seed)
    report = {"refused": 0, "used": 0, "load_errors": [], "use_errors": []}

    def write(entries, meta):
        meta["sha256"] = {k: _digest(v) for k, v in entries.items()}
        payload = dict(entries)
        payload["metadata"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        with open(work, "wb") as fh:
            np.savez(fh, **payload)
        with open(work, "rb") as fh:
            return fh.read()

    def check(data, label):
        print("TRY", label, flush=True)
        with open(work, "wb") as fh:
            fh.write(data)
        try:
            model = load_model(work)
        except ModelFileError:
            report["refused"] += 1
            return
        except Exception as exc:
            report["load_errors"].append(f"{label}: {type(exc).__name__}: {exc}"[:300])
            return
        try:
            use(model, np.random.RandomState(0))
            report["used"] += 1
        except Exception as exc:
            report["use_errors"].append(f"{label}: {type(exc).__name__}: {exc}"[:300])

    for path in paths:
        with open(path, "rb") as fh:
            raw = fh.read()
        name = path.rsplit("/", 1)[-1]
        for i in range(n_each):  # bit flips anywhere: zip and .npy headers, data
            b = bytearray(raw)
            for _ in range(rng.randint(1, 4)):
                b[rng.randint(len(b))] ^= 1 << rng.randint(8)
            check(bytes(b), f"{name} flip#{i}")
        for i in range(max(2, n_each // 4)):
            cut = rng.randint(1, len(raw))
            check(raw[:cut], f"{name} cut at {cut}")
        with np.load(path, allow_pickle=False) as data:
            entries = {k: data[k] for k in data.files}
        meta = json.loads(entries.pop("metadata").tobytes().decode())
        names = sorted(entries)
        for i in range(3 * n_each):
            e = {k: v.copy() for k, v in entries.items()}
            m = json.loads(json.dumps(meta))
            what = rng.randint(12)
            key = names[rng.randint(len(names))]
            if what < 7:  # one value
                flat = e[key].reshape(-1)
                if flat.size == 0:
                    continue
                j = rng.randint(flat.size)
                if flat.dtype.kind in "iu":
                    pool = [-3, -2, -1, 0, 1, 2, flat.size - 1, flat.size,
                            int(flat[j]) + 1, int(flat[j]) - 1, 255, 2**40, -2**62]
                    v = pool[rng.randint(len(pool))]
                    flat[j] = v % 256 if flat.dtype.kind == "u" else v
                elif flat.dtype.kind == "f":
                    pool = [np.nan, np.inf, -np.inf, 0.0, -1.0, 1e300, -2.0, 0.5]
                    flat[j] = pool[rng.randint(len(pool))]
                else:
                    continue
                label = f"{name} {key}[{j}]={flat[j]!r}"
            elif what < 8:  # one element shorter or longer
                a = e[key].reshape(-1)
                e[key] = a[:-1] if rng.randint(2) or a.size == 0 else np.concatenate([a, a[-1:]])
                label = f"{name} {key} reshaped to {e[key].shape}"
            elif what < 9:  # two arrays of one dtype swapped
                same = [k for k in names if k != key and e[k].dtype == e[key].dtype]
                if not same:
                    continue
                other = same[rng.randint(len(same))]
                e[key], e[other] = e[other], e[key]
                label = f"{name} {key} <-> {other}"
            elif what < 10:  # huge
                a = e[key].reshape(-1)
                if a.size == 0:
                    continue
                e[key] = np.resize(a, 1 << 20)
                label = f"{name} {key} blown up to {e[key].shape}"
            else:  # one fitted number in the metadata
                fitted = m.get("fitted") or {}
                if not fitted:
                    continue
                k = sorted(fitted)[rng.randint(len(fitted))]
                pool = [0, -1, 1, 2, 3, 10**6, 2**62, None, "x", 0.5, float("nan")]
                fitted[k] = pool[rng.randint(len(pool))]
                label = f"{name} fitted[{k}]={fitted[k]!r}"
            check(write(e, m), label)
    print("REPORT", json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
