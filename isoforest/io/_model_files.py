"""Saving and loading fitted models safely: NumPy arrays plus JSON, never pickle.

A model file is an uncompressed ``.npz`` archive: one ``metadata`` entry (UTF-8
JSON: format version, estimator class, parameters, fitted scalars, and any extra
information such as the CLI's column names) and one entry per array. Loading uses
``allow_pickle=False`` and then validates everything the kernels will index, so a
truncated or tampered file is refused with a ``ModelFileError`` and can never make
a kernel read out of bounds.

What is promised, exactly:

- Without a key, the metadata's sha256 of each array catches damage (a truncated
  or corrupted file), not an edit: anyone can recompute a digest. Any file that
  loads is still safe to score (the validation above), but it may hold any model.
- With ``key=`` on both sides, the file also carries an HMAC-SHA256 of its
  metadata (which holds every array's digest, so it covers every byte that
  matters), and ``load_model(..., key=...)`` refuses a file that anyone without
  the key wrote or changed, or that is not signed at all.
"""

import hashlib
import hmac
import json

import numpy as np

from ..forest._arrays import NODE_FIELDS, ForestArrays

__all__ = ["ModelFileError", "save_model", "load_model"]

FORMAT = "isoforest-model"
VERSION = 1


class ModelFileError(ValueError):
    """A model file is missing, truncated, tampered with or of another version."""


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def _forest_payload(model, **fitted):
    """What both forests save: the flat forest's stored arrays, the bagging seeds,
    and the fitted numbers they share (plus ``fitted``)."""
    arrays = model.forest_.stored_arrays()
    arrays["bagging_seeds"] = np.asarray(model._seeds_all, dtype=np.int64)
    common = {
        "offset_": float(model.offset_),
        "max_samples_": int(model.max_samples_),
        "n_features_in_": int(model.n_features_in_),
        "_max_samples": int(model._max_samples),
        "_n_samples": int(model._n_samples),
    }
    return arrays, common | fitted


def _iforest_payload(model):
    arrays, fitted = _forest_payload(model, _max_features=int(model._max_features))
    arrays["tree_seeds"] = np.asarray(model._tree_seeds, dtype=np.int64)
    arrays["tree_max_depth"] = np.asarray(model._tree_max_depth, dtype=np.int64)
    return arrays, fitted


def _eif_payload(model):
    return _forest_payload(model, extension_level_=int(model.extension_level_))


def _zscore_payload(model):
    arrays = {"center_": model.center_, "scale_": model.scale_}
    fitted = {
        "offset_": float(model.offset_),
        "threshold_": float(model.threshold_),
        "n_features_in_": int(model.n_features_in_),
        "n_samples_seen_": int(model.n_samples_seen_),
    }
    for name in ("min_", "max_", "mean_", "var_", "_m2", "_shift", "_mean_shifted"):
        if hasattr(model, name):
            arrays[name] = np.asarray(getattr(model, name), dtype=np.float64)
    return arrays, fitted


def _lof_payload(model):
    if not model.novelty:
        raise TypeError("save_model saves a LocalOutlierFactor fitted with novelty=True "
                        "(a novelty=False model has no methods to call on new data)")
    arrays = {"fit_X": np.asarray(model._fit_X, dtype=np.float64)}
    fitted = {"offset_": float(model.offset_), "n_features_in_": int(model.n_features_in_)}
    return arrays, fitted


def _online_payload(model):
    """A streaming forest mid-stream: its state arrays, the threshold's history,
    and the counters that say where the stream is."""
    arrays = dict(model._state_arrays())
    arrays["history"] = np.asarray(model._history, dtype=np.float64)
    keys = getattr(model, "_keys", None)
    if keys is not None and not all(isinstance(k, (str, int)) and not isinstance(k, bool)
                                    for k in keys):
        raise TypeError("save_model saves a stream whose dict keys are str or int")
    fitted = {"n_features_in_": int(model.n_features_in_),
              "n_samples_seen_": int(model.n_samples_seen_),
              "_n_history": int(model._n_history), "keys": keys,
              **model._fitted_scalars()}
    return arrays, fitted


#: The archive entry holding the metadata's HMAC-SHA256 in a signed file.
SIGNATURE = "hmac_sha256"


def _key_bytes(key):
    if isinstance(key, str):
        key = key.encode("utf-8")
    if not isinstance(key, (bytes, bytearray)):
        raise TypeError(f"key must be bytes or str, got {type(key).__name__}")
    if not key:
        raise ValueError("key must not be empty")
    return bytes(key)


def _signature(key, meta_bytes):
    return hmac.new(_key_bytes(key), meta_bytes, hashlib.sha256).digest()


def save_model(model, path, extra=None, key=None):
    """Write a fitted model to ``path`` (an ``.npz`` archive, no pickle).

    Parameters
    ----------
    model : IsolationForest, ExtendedIsolationForest, ZScoreDetector, LocalOutlierFactor, \
HalfSpaceTrees or RandomCutForest
        A fitted estimator (LOF: with ``novelty=True``; its training rows are
        stored and the model is refitted, deterministically, when loaded). A
        streaming forest is saved mid-stream: loaded, it goes on with exactly
        the scores the unbroken stream gives.
    path : str or path-like
        Destination file.
    extra : dict, optional
        JSON-serialisable information stored beside the model (the command line
        keeps its column names and standardisation here).
    key : bytes or str, optional
        Sign the file with HMAC-SHA256 under this secret, so that
        ``load_model(path, key=key)`` refuses any file not written with it.
    """
    if key is not None:
        _key_bytes(key)  # refuse a bad key before anything is written
    from ..forest._eif import ExtendedIsolationForest
    from ..forest._iforest import IsolationForest
    from ..neighbors._lof import LocalOutlierFactor
    from ..stats._zscore import ZScoreDetector
    from ..streaming import HalfSpaceTrees, RandomCutForest

    if isinstance(model, (HalfSpaceTrees, RandomCutForest)):
        if not hasattr(model, "n_features_in_"):
            raise TypeError(f"save_model saves a {type(model).__name__} that has learned "
                            "at least one record")
        arrays, fitted = _online_payload(model)
    elif isinstance(model, IsolationForest):
        arrays, fitted = _iforest_payload(model)
    elif isinstance(model, ExtendedIsolationForest):
        arrays, fitted = _eif_payload(model)
    elif isinstance(model, ZScoreDetector):
        arrays, fitted = _zscore_payload(model)
    elif isinstance(model, LocalOutlierFactor):
        arrays, fitted = _lof_payload(model)
    else:
        raise TypeError(f"save_model cannot save a {type(model).__name__}")
    params = {k: _jsonable(v) for k, v in model.get_params().items()}
    if params.get("random_state") is not None and not isinstance(params["random_state"], int):
        params["random_state"] = None  # a RandomState object has no JSON form
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "estimator": type(model).__name__,
        "params": params,
        "fitted": fitted,
        "feature_names_in_": (
            [str(n) for n in model.feature_names_in_]
            if hasattr(model, "feature_names_in_") else None
        ),
        "arrays": sorted(arrays),
        "extra": extra or {},
    }
    payload = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    meta["sha256"] = {k: _digest(v) for k, v in payload.items()}
    meta_bytes = json.dumps(meta).encode("utf-8")
    payload["metadata"] = np.frombuffer(meta_bytes, dtype=np.uint8)
    if key is not None:
        payload[SIGNATURE] = np.frombuffer(_signature(key, meta_bytes), dtype=np.uint8)
    with open(path, "wb") as fh:
        np.savez(fh, **payload)


def _digest(a):
    """sha256 of an array's dtype, shape and bytes (tampering shows as a mismatch)."""
    h = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
    h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _fail(msg):
    raise ModelFileError(f"invalid model file: {msg}")


def _read(path, key=None):
    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except Exception as exc:  # any parse failure of a damaged file is the file's fault
        _fail(f"cannot read {path!s} as an isoforest model ({type(exc).__name__})")
    if not isinstance(data, np.lib.npyio.NpzFile):
        _fail(f"{path!s} is a single array, not an isoforest model archive")
    try:
        with data:
            entries = {k: data[k] for k in data.files}
    except Exception as exc:
        _fail(f"cannot read {path!s} as an isoforest model ({type(exc).__name__}: {exc})")
    if "metadata" not in entries:
        _fail("no metadata entry")
    meta_bytes = entries.pop("metadata")
    signature = entries.pop(SIGNATURE, None)
    if meta_bytes.dtype != np.uint8 or meta_bytes.ndim != 1:
        _fail("the metadata entry is not bytes")
    meta_bytes = meta_bytes.tobytes()
    if key is not None:
        if signature is None:
            _fail(f"{path!s} is not signed, and a key was given: it was not written "
                  "with this key")
        if (signature.dtype != np.uint8 or signature.shape != (32,) or not
                hmac.compare_digest(signature.tobytes(), _signature(key, meta_bytes))):
            _fail(f"{path!s} was not signed with this key (written or changed by "
                  "someone without it)")
    try:
        meta = json.loads(meta_bytes.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        _fail(f"metadata is not JSON ({exc})")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        _fail("not an isoforest model")
    if meta.get("version") != VERSION:
        _fail(f"format version {meta.get('version')!r}, this isoforest reads {VERSION}")
    listed = meta.get("arrays")
    if not isinstance(listed, list) or not all(isinstance(a, str) for a in listed):
        _fail("the metadata's array list is not a list of names")
    if sorted(entries) != sorted(listed):
        _fail("the arrays present do not match the metadata")
    digests = meta.get("sha256")
    if not isinstance(digests, dict) or sorted(digests) != sorted(listed):
        _fail("the metadata lacks the arrays' checksums")
    for name, a in entries.items():
        if digests[name] != _digest(a):
            _fail(f"array {name!r} does not match its checksum (modified or damaged)")
    return meta, entries


def _array(entries, name, dtype, ndim):
    if name not in entries:
        _fail(f"array {name!r} is missing")
    a = entries[name]
    if a.dtype != np.dtype(dtype) or a.ndim != ndim:
        _fail(f"{name} has dtype {a.dtype} and {a.ndim} dimensions, "
              f"expected {np.dtype(dtype)} and {ndim}")
    return a


def _int(fitted, name, low=0, high=2**62):
    v = fitted.get(name)
    if not isinstance(v, int) or isinstance(v, bool) or not low <= v < high:
        _fail(f"{name} must be an integer in [{low}, {high}), got {v!r}")
    return v


def _flat_forest(entries, fields):
    """``tree_offsets`` and the per-node arrays named in ``fields``, checked as both
    forests' flat layout needs: at least one tree, offsets from 0 increasing, every
    node array as long as the offsets say."""
    offsets = _array(entries, "tree_offsets", np.int64, 1)
    nodes = {name: _array(entries, name, dtype, 1) for name, dtype, _ in fields}
    if offsets.shape[0] < 2 or offsets[0] != 0 or np.any(np.diff(offsets) < 1):
        _fail("tree_offsets must start at 0 and increase")
    n_nodes = int(offsets[-1])
    if any(a.shape[0] != n_nodes for a in nodes.values()):
        _fail("node arrays differ in length from tree_offsets")
    return offsets, nodes


def _validate_forest(entries, n_features, max_features):
    offsets, nodes = _flat_forest(entries, NODE_FIELDS)
    features = _array(entries, "features", np.int64, 2)
    n_trees = offsets.shape[0] - 1
    if features.shape != (n_trees, max_features):
        _fail(f"features has shape {features.shape}, expected {(n_trees, max_features)}")
    if features.size and (features.min() < 0 or features.max() >= n_features):
        _fail("a tree uses a feature outside the model's columns")
    left, right, feat = nodes["children_left"], nodes["children_right"], nodes["feature"]
    leaf, _ = _check_tree_structure(offsets, left, right)
    if np.any(leaf & (feat != -2)) or np.any(~leaf & ((feat < 0) | (feat >= max_features))):
        _fail("a split refers to a feature outside its tree's subset")
    if np.any(nodes["n_node_samples"] < 1):
        _fail("n_node_samples must be positive")
    if np.any(nodes["missing_go_to_left"] > 1):
        _fail("missing_go_to_left must be 0 or 1")
    return ForestArrays(offsets, features, **nodes), n_trees


def _check_tree_structure(offsets, left, right):
    """Shared by both forests: children after their parent and inside their tree,
    both children or none, one parent per non-root node (so every walk ends at a
    leaf and reads only its own tree's nodes)."""
    n_nodes = int(offsets[-1])
    sizes = np.repeat(np.diff(offsets), np.diff(offsets))
    local = np.arange(n_nodes) - np.repeat(offsets[:-1], np.diff(offsets))
    leaf = left == -1
    if np.any(leaf != (right == -1)):
        _fail("a node has exactly one child")
    inner = ~leaf
    for child in (left, right):
        c = child[inner]
        if np.any(c <= local[inner]) or np.any(c >= sizes[inner]):
            _fail("a child id is outside its tree or not after its parent")
    parents = np.zeros(n_nodes, dtype=np.int64)
    base = np.repeat(offsets[:-1], np.diff(offsets))
    np.add.at(parents, (base + left)[inner], 1)
    np.add.at(parents, (base + right)[inner], 1)
    if np.any(parents[offsets[:-1]] != 0) or np.any(np.delete(parents, offsets[:-1]) != 1):
        _fail("the trees are not trees (a node with no parent or two)")
    return leaf, base


# Beside _validate_forest: the checks both forests share are _flat_forest and
# _check_tree_structure; the rest checks each forest's own arrays.
def _validate_eif_forest(entries, n_features, max_samples):
    from ..forest._eif import EIF_NODE_FIELDS, EIFArrays

    offsets, nodes = _flat_forest(entries, EIF_NODE_FIELDS)
    normal = _array(entries, "normal", np.float64, 2)
    n_trees = offsets.shape[0] - 1
    n_nodes = int(offsets[-1])
    if normal.shape != (n_nodes, n_features):
        _fail(f"normal has shape {normal.shape}, expected {(n_nodes, n_features)}")
    if not (np.all(np.isfinite(normal)) and np.all(np.isfinite(nodes["intercept"]))):
        _fail("normal and intercept must be finite")
    left, right = nodes["children_left"], nodes["children_right"]
    leaf, base = _check_tree_structure(offsets, left, right)
    size = nodes["n_node_samples"]
    if np.any(size < 0) or np.any(size > max_samples):
        _fail("n_node_samples must lie in [0, max_samples]")
    depth = nodes["depth"]
    inner = ~leaf
    if np.any(depth[offsets[:-1]] != 1) or np.any(
            depth[(base + left)[inner]] != depth[inner] + 1) or np.any(
            depth[(base + right)[inner]] != depth[inner] + 1):
        _fail("depth must count the root as 1 and add 1 per level")
    return EIFArrays(offsets, normal, **nodes), n_trees


def load_model(path, return_extra=False, key=None):
    """Load and validate a model written by :func:`save_model`.

    Parameters
    ----------
    path : str or path-like
    return_extra : bool, default=False
        Also return the ``extra`` dictionary stored with the model.
    key : bytes or str, optional
        The secret the file was signed with (``save_model(..., key=...)``): a file
        without its HMAC-SHA256 under this key is refused. Without a key the
        signature, if any, is not checked; every file that loads is safe to score
        either way.

    Returns
    -------
    model : IsolationForest, ExtendedIsolationForest, ZScoreDetector or LocalOutlierFactor
    extra : dict
        Only when ``return_extra`` is True.

    Raises
    ------
    ModelFileError
        If the file is not a valid model (truncated, tampered, other version).
    """
    from ..forest._eif import ExtendedIsolationForest
    from ..forest._iforest import IsolationForest
    from ..neighbors._lof import LocalOutlierFactor
    from ..stats._zscore import ZScoreDetector

    from ..streaming import HalfSpaceTrees, RandomCutForest

    if key is not None:
        _key_bytes(key)
    meta, entries = _read(path, key)
    fitted = meta.get("fitted")
    params = meta.get("params")
    if not isinstance(fitted, dict) or not isinstance(params, dict):
        _fail("fitted values or parameters missing")
    kind = meta.get("estimator")
    classes = {"IsolationForest": IsolationForest, "ZScoreDetector": ZScoreDetector,
               "LocalOutlierFactor": LocalOutlierFactor,
               "ExtendedIsolationForest": ExtendedIsolationForest,
               "HalfSpaceTrees": HalfSpaceTrees, "RandomCutForest": RandomCutForest}
    if kind not in classes:
        _fail(f"unknown estimator {kind!r}")
    cls = classes[kind]
    if set(params) != set(cls._get_param_names()):
        _fail("parameters do not match the estimator")
    model = cls(**params)
    try:
        model._validate_params()
    except ValueError as exc:
        _fail(str(exc))
    n_features = _int(fitted, "n_features_in_", 1)
    if kind in ("HalfSpaceTrees", "RandomCutForest"):
        _load_online(model, meta, entries, fitted, n_features)
        extra = meta.get("extra") or {}
        return (model, extra) if return_extra else model
    offset = fitted.get("offset_")
    if not isinstance(offset, (int, float)) or isinstance(offset, bool):
        _fail("offset_ must be a number")
    if kind == "IsolationForest":
        max_features = _int(fitted, "_max_features", 1)
        max_samples = _int(fitted, "_max_samples", 1)
        if max_features > n_features:
            _fail("_max_features exceeds n_features_in_")
        forest, n_trees = _validate_forest(entries, n_features, max_features)
        seeds = _array(entries, "tree_seeds", np.int64, 1)
        depths = _array(entries, "tree_max_depth", np.int64, 1)
        bagging = _array(entries, "bagging_seeds", np.int64, 1)
        if any(a.shape[0] != n_trees for a in (seeds, depths, bagging)):
            _fail("per-tree arrays differ in length from the forest")
        if np.any(bagging < 0) or np.any(bagging >= 2**31):
            _fail("bagging seeds out of range")
        model._forest = forest
        model._tree_seeds = seeds
        model._tree_max_depth = depths
        model._seeds_all = bagging
        model._seeds = bagging
        model._max_samples = max_samples
        model._max_features = max_features
        model._n_samples = _int(fitted, "_n_samples", 1)
        model.max_samples_ = _int(fitted, "max_samples_", 1)
        model._sample_weight = None
        model._estimators_cache = None
        model._set_denominator()
    elif kind == "ExtendedIsolationForest":
        # The IsolationForest branch's steps, for the attributes this estimator has
        # (no per-tree seeds or depths to check).
        max_samples = _int(fitted, "_max_samples", 1)
        extension_level = _int(fitted, "extension_level_", 0, n_features)
        forest, n_trees = _validate_eif_forest(entries, n_features, max_samples)
        bagging = _array(entries, "bagging_seeds", np.int64, 1)
        if bagging.shape[0] != n_trees:
            _fail("per-tree arrays differ in length from the forest")
        if np.any(bagging < 0) or np.any(bagging >= 2**31):
            _fail("bagging seeds out of range")
        model._forest = forest
        model._seeds_all = bagging
        model._max_samples = max_samples
        model._n_samples = _int(fitted, "_n_samples", 1)
        model.max_samples_ = _int(fitted, "max_samples_", 1)
        model.extension_level_ = extension_level
        model._set_denominator()
    elif kind == "LocalOutlierFactor":
        X = _array(entries, "fit_X", np.float64, 2)
        if X.shape[1] != n_features or X.shape[0] < 2 or not np.all(np.isfinite(X)):
            _fail("fit_X must hold at least 2 finite rows of n_features_in_ columns")
        if not model.novelty:
            _fail("a saved LocalOutlierFactor must have novelty=True")
        try:
            model.fit(X)  # LOF is deterministic: the same rows give the same model
        except (ValueError, TypeError) as exc:
            _fail(f"the stored LocalOutlierFactor cannot be refitted ({exc})")
        if float(model.offset_) != float(offset):
            _fail("the stored LocalOutlierFactor does not reproduce its offset_")
    else:
        center = _array(entries, "center_", np.float64, 1)
        scale = _array(entries, "scale_", np.float64, 1)
        if center.shape != (n_features,) or scale.shape != (n_features,):
            _fail("center_/scale_ do not match n_features_in_")
        if np.any(scale < 0) or np.any(np.isnan(scale)):
            _fail("scale_ must be non-negative")
        model.center_, model.scale_ = center, scale
        optional = ("min_", "max_", "mean_", "var_", "_m2", "_shift", "_mean_shifted")
        for name in optional:
            if name in entries:
                a = _array(entries, name, np.float64, 1)
                if a.shape != (n_features,):
                    _fail(f"{name} does not match n_features_in_")
                setattr(model, name, a)
        running = {"_m2", "_shift", "_mean_shifted", "mean_", "var_"}
        present = running & set(entries)
        if present and (present != running or not {"min_", "max_"} <= set(entries)):
            _fail("the running statistics of partial_fit are incomplete")
        threshold = fitted.get("threshold_")
        if not isinstance(threshold, (int, float)) or isinstance(threshold, bool):
            _fail("threshold_ must be a number")
        model.threshold_ = float(threshold)
        model.n_samples_seen_ = _int(fitted, "n_samples_seen_", 1)
    names = meta.get("feature_names_in_")
    if names is not None:
        if not isinstance(names, list) or len(names) != n_features or not all(
            isinstance(n, str) for n in names
        ):
            _fail("feature_names_in_ does not match n_features_in_")
        model.feature_names_in_ = np.asarray(names, dtype=object)
    model.n_features_in_ = n_features
    model.offset_ = float(offset)
    extra = meta.get("extra") or {}
    return (model, extra) if return_extra else model


def _load_online(model, meta, entries, fitted, n_features):
    """Validate a streaming forest's state so that the kernels can only read and
    write inside its arrays, then set it."""
    from ..streaming._base import HISTORY
    from ..streaming._rcf_kernels import check_trees

    seen = _int(fitted, "n_samples_seen_", 1)
    n_history = _int(fitted, "_n_history", 1)
    history = _array(entries, "history", np.float64, 1)
    if history.shape != (HISTORY,) or not np.all(np.isfinite(history)):
        _fail("history must hold HISTORY finite scores")
    keys = fitted.get("keys")
    if keys is not None and (not isinstance(keys, list) or len(keys) != n_features or not all(
            isinstance(k, (str, int)) and not isinstance(k, bool) for k in keys)):
        _fail("keys do not match n_features_in_")
    T = model.n_estimators
    arrays = {}
    if type(model).__name__ == "HalfSpaceTrees":
        h = model.height
        n_inner = (1 << h) - 1
        shapes = {"feature": (np.int64, (T, n_inner)), "threshold": (np.float64, (T, n_inner)),
                  "r_mass": (np.int64, (T, 2 * n_inner + 1)),
                  "l_leaf": (np.int64, (T, n_inner + 1))}
        for name, (dtype, shape) in shapes.items():
            a = _array(entries, name, dtype, len(shape))
            if a.shape != shape:
                _fail(f"{name} has shape {a.shape}, expected {shape}")
            arrays[name] = np.array(a)
        f = arrays["feature"]
        if f.size and (f.min() < 0 or f.max() >= n_features):
            _fail("a split refers to a feature outside the model's columns")
        if not np.all(np.isfinite(arrays["threshold"])):
            _fail("thresholds must be finite")
        if (arrays["r_mass"] < 0).any() or (arrays["l_leaf"] < 0).any():
            _fail("masses must be non-negative")
        counter = _int(fitted, "_counter", 0, model.window_size)
        first = fitted.get("_first_window")
        if not isinstance(first, bool):
            _fail("_first_window must be true or false")
        if first != (seen < model.window_size) or counter != seen % model.window_size:
            _fail("the window counters do not match n_samples_seen_")
        scalars = {"_counter": counter, "_first_window": first}
    else:
        k = model.shingle_size
        D = n_features * k
        cap = 2 * (model.tree_size + 2)
        shapes = {"left": (T, cap), "right": (T, cap), "parent": (T, cap), "count": (T, cap),
                  "cut_dim": (T, cap), "free": (T, cap), "n_free": (T,), "root": (T,),
                  "slot": (T, model.tree_size + 1), "rng": (T, 625)}
        for name, shape in shapes.items():
            a = _array(entries, name, np.int64, len(shape))
            if a.shape != shape:
                _fail(f"{name} has shape {a.shape}, expected {shape}")
            arrays[name] = np.array(a)
        for name, shape in (("cut_val", (T, cap)), ("lo", (T, cap, D)), ("hi", (T, cap, D))):
            a = _array(entries, name, np.float64, len(shape))
            if a.shape != shape or not np.all(np.isfinite(a)):
                _fail(f"{name} must be finite with shape {shape}")
            arrays[name] = np.array(a)
        recent = _array(entries, "recent", np.float64, 2)
        if recent.shape != (min(k - 1, seen), n_features) or not np.all(np.isfinite(recent)):
            _fail("recent records do not match the shingle")
        arrays["recent"] = np.array(recent)
        n_points = _int(fitted, "_n_points", 0)
        if n_points != max(0, seen - (k - 1)):
            _fail("_n_points does not match n_samples_seen_")
        rng = arrays["rng"]
        if (rng[:, :624] < 0).any() or (rng[:, :624] > 0xFFFFFFFF).any() or (
                rng[:, 624] < 0).any() or (rng[:, 624] > 624).any():
            _fail("a generator state is out of range")
        if not check_trees(arrays["left"], arrays["right"], arrays["parent"], arrays["count"],
                           arrays["cut_dim"], arrays["lo"], arrays["hi"], arrays["free"],
                           arrays["n_free"], arrays["root"], arrays["slot"], n_points,
                           model.tree_size, D):
            _fail("the trees are not trees the kernels can walk")
        scalars = {"_n_points": n_points}
    model._start(n_features, allocate=False)
    model._restore(arrays, scalars)
    model.n_samples_seen_ = seen
    model._history = np.array(history)
    model._n_history = n_history
    model._keys = keys
    names = meta.get("feature_names_in_")
    if names is not None:
        if not isinstance(names, list) or len(names) != n_features or not all(
                isinstance(n, str) for n in names):
            _fail("feature_names_in_ does not match n_features_in_")
        model.feature_names_in_ = np.asarray(names, dtype=object)
