"""Export: to_sklearn, decision_path, tree_structure, export_text and export_graphviz.

Every comparison is against live scikit-learn (its own fitted trees where possible,
or its real ``Tree``/``export_text``/``decision_path`` code run on the exported
twin), shap and onnxruntime; each is skipped cleanly when the package is missing.
"""

import pickle
import re
import subprocess
import sys

import numpy as np
import pytest

import isoforest
from isoforest import IsolationForest, export_graphviz, export_text
from isoforest.forest._arrays import average_path_length

sklearn = pytest.importorskip("sklearn")
from sklearn.ensemble import IsolationForest as SkIsolationForest  # noqa: E402


def _data(seed=0, n=600, d=4, nan=True):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d)
    if nan:
        X[::9, min(2, d - 1)] = np.nan
    X_test = np.r_[X, rng.randn(80, d) * 3]
    return X, X_test


PARAMS = [
    dict(),
    dict(max_features=0.5, contamination=0.1),
    dict(bootstrap=True, max_samples=0.4),
    dict(n_estimators=3, max_samples=7),
    dict(max_samples=600),
]


# ----------------------------------------------------------------- to_sklearn
@pytest.mark.parametrize("params", PARAMS)
def test_to_sklearn_scores_bit_for_bit(params):
    X, X_test = _data()
    ours = IsolationForest(n_estimators=params.pop("n_estimators", 25), random_state=3,
                           **params).fit(X)
    sk = ours.to_sklearn()
    assert type(sk) is SkIsolationForest
    for method in ("score_samples", "decision_function", "predict"):
        np.testing.assert_array_equal(getattr(sk, method)(X_test),
                                      getattr(ours, method)(X_test), err_msg=method)
    # scikit-learn's own chunked path, with a tiny working memory (many chunks)
    with sklearn.config_context(working_memory=0.001):
        np.testing.assert_array_equal(-sk._compute_chunked_score_samples(
            X_test.astype(np.float32)), ours.score_samples(X_test))
    assert sk.offset_ == ours.offset_
    assert sk.get_params() == {**sk.get_params(), **ours.get_params()}


@pytest.mark.parametrize("params", PARAMS)
def test_round_trip_gives_identical_forest(params):
    X, _ = _data(1)
    ours = IsolationForest(n_estimators=params.pop("n_estimators", 20), random_state=7,
                           **params).fit(X)
    back = IsolationForest.from_sklearn(ours.to_sklearn())
    for name, arr in ours.forest_.node_arrays().items():
        np.testing.assert_array_equal(getattr(back.forest_, name), arr, err_msg=name)
    np.testing.assert_array_equal(back.forest_.features, ours.forest_.features)
    assert back.offset_ == ours.offset_ and back.max_samples_ == ours.max_samples_
    assert back.get_params() == ours.get_params()
    for a, b in zip(back.estimators_, ours.estimators_):
        assert (a.random_state, a.max_depth) == (b.random_state, b.max_depth)


def test_to_sklearn_matches_sklearns_own_fit():
    """The exported model equals the one scikit-learn fits itself, attribute by
    attribute (the trees are bit-identical, so everything derived from them is)."""
    X, X_test = _data(2, nan=False)
    ours = IsolationForest(n_estimators=15, max_features=3, random_state=11).fit(X)
    sk_own = SkIsolationForest(n_estimators=15, max_features=3, random_state=11).fit(X)
    sk = ours.to_sklearn()
    assert sorted(vars(sk)) == sorted(vars(sk_own))
    for name in ("max_samples_", "_max_samples", "_max_features", "_n_samples",
                 "n_features_in_", "offset_"):
        assert getattr(sk, name) == getattr(sk_own, name), name
    np.testing.assert_array_equal(sk._seeds, sk_own._seeds)
    for a, b in zip(sk.estimators_, sk_own.estimators_):
        assert a.get_params() == b.get_params()
        assert sorted(vars(a)) == sorted(vars(b))
        sa, sb = a.tree_.__getstate__(), b.tree_.__getstate__()
        assert sa["nodes"].dtype == sb["nodes"].dtype
        assert (sa["max_depth"], sa["node_count"]) == (sb["max_depth"], sb["node_count"])
        for field in sb["nodes"].dtype.names:
            got, want = sa["nodes"][field], sb["nodes"][field]
            if field == "missing_go_to_left":  # undefined at scikit-learn's leaves
                inner = sb["nodes"]["left_child"] != -1
                got, want = got[inner], want[inner]
            np.testing.assert_array_equal(got, want, err_msg=field)
    for a, b in zip(sk._decision_path_lengths, sk_own._decision_path_lengths):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(sk._average_path_length_per_tree, sk_own._average_path_length_per_tree):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(sk.estimators_samples_[0], sk_own.estimators_samples_[0])
    np.testing.assert_array_equal(sk.score_samples(X_test), sk_own.score_samples(X_test))


def test_tree_values_are_path_lengths():
    """tree_.value: h = depth + c(n) at leaves, so each tree predicts path lengths;
    internal nodes hold the n_node_samples-weighted mean of their leaves."""
    X, X_test = _data(3)
    ours = IsolationForest(n_estimators=10, max_features=0.75, random_state=0).fit(X)
    sk = ours.to_sklearn()
    lengths = ours.path_lengths(X_test)
    for t, (est, feats) in enumerate(zip(sk.estimators_, sk.estimators_features_)):
        np.testing.assert_array_equal(est.predict(X_test[:, feats]), lengths[:, t])
        tree = est.tree_
        value = tree.value[:, 0, 0]
        depth = tree.compute_node_depths()  # root = 1
        leaf = tree.children_left == -1
        # in scikit-learn's order of operations: depth + c(n) - 1.0
        np.testing.assert_array_equal(
            value[leaf], depth[leaf] + average_path_length(tree.n_node_samples[leaf]) - 1.0)
        inner = np.flatnonzero(~leaf)
        cl, cr, n = tree.children_left, tree.children_right, tree.n_node_samples
        np.testing.assert_allclose(
            value[inner] * n[inner], value[cl[inner]] * n[cl[inner]]
            + value[cr[inner]] * n[cr[inner]], rtol=1e-12)


def test_to_sklearn_keeps_feature_names_and_weights():
    pd = pytest.importorskip("pandas")
    X, X_test = _data(4, nan=False)
    df = pd.DataFrame(X, columns=list("abcd"))
    w = np.random.RandomState(0).uniform(0.1, 2, size=len(X))
    ours = IsolationForest(n_estimators=8, random_state=0).fit(df, sample_weight=w)
    sk = ours.to_sklearn()
    np.testing.assert_array_equal(sk.feature_names_in_, list("abcd"))
    test_df = pd.DataFrame(X_test, columns=list("abcd"))
    np.testing.assert_array_equal(sk.score_samples(test_df), ours.score_samples(test_df))
    np.testing.assert_array_equal(sk._sample_weight, w)
    with pytest.raises(ValueError, match="feature names"):
        sk.score_samples(test_df.rename(columns={"a": "z"}))


def test_to_sklearn_after_warm_start():
    X, X_test = _data(5)
    ours = IsolationForest(n_estimators=5, random_state=0, warm_start=True).fit(X)
    ours.set_params(n_estimators=9).fit(X)
    sk = ours.to_sklearn()
    assert len(sk.estimators_) == 9
    np.testing.assert_array_equal(sk.score_samples(X_test), ours.score_samples(X_test))


def test_exported_model_pickles_and_refits():
    X, X_test = _data(6)
    ours = IsolationForest(n_estimators=12, random_state=0).fit(X)
    sk = pickle.loads(pickle.dumps(ours.to_sklearn()))
    np.testing.assert_array_equal(sk.score_samples(X_test), ours.score_samples(X_test))
    # a genuine estimator: clone and refit work, and refit equals isoforest's fit
    sk2 = sklearn.base.clone(sk).fit(X)
    np.testing.assert_array_equal(sk2.score_samples(X_test), ours.score_samples(X_test))


def test_to_sklearn_unfitted():
    from isoforest import NotFittedError

    with pytest.raises(NotFittedError):
        IsolationForest().to_sklearn()


def test_shap_tree_explainer_on_export():
    shap = pytest.importorskip("shap")
    X, _ = _data(7, nan=False)
    ours = IsolationForest(n_estimators=20, max_features=0.75, random_state=0).fit(X)
    explainer = shap.TreeExplainer(ours.to_sklearn())
    rows = X[:40]
    values = explainer.shap_values(rows)
    assert values.shape == rows.shape
    # shap's additivity: base value + contributions = mean path length E[h(x)]
    np.testing.assert_allclose(explainer.expected_value + values.sum(axis=1),
                               ours.path_lengths(rows).mean(axis=1), rtol=1e-10)


def test_onnx_conversion_end_to_end():
    skl2onnx = pytest.importorskip("skl2onnx")
    ort = pytest.importorskip("onnxruntime")
    X, X_test = _data(8, n=400, d=3, nan=False)
    n_trees = 30
    ours = IsolationForest(n_estimators=n_trees, contamination=0.05, random_state=0).fit(X)
    sk = ours.to_sklearn()
    onx = skl2onnx.to_onnx(sk, X[:1].astype(np.float32),
                           target_opset={"": 18, "ai.onnx.ml": 3},
                           options={id(sk): {"score_samples": True}})
    sess = ort.InferenceSession(onx.SerializeToString(),
                                providers=["CPUExecutionProvider"])
    X32 = X_test.astype(np.float32)
    label, decision, score = (r.ravel() for r in
                              sess.run(None, {sess.get_inputs()[0].name: X32}))
    # ONNX runs in float32: n_trees path lengths summed (each add rounds by at most
    # half an ulp of the running sum), then divided and raised; the relative error of
    # E[h]/c is below n_trees * eps32, and |d score / d (E[h]/c)| = ln 2 |score| < 1.
    tol = 2 * n_trees * np.finfo(np.float32).eps
    np.testing.assert_allclose(score, ours.score_samples(X_test), rtol=0, atol=tol)
    np.testing.assert_allclose(decision, ours.decision_function(X_test), rtol=0, atol=tol)
    clear = np.abs(ours.decision_function(X_test)) > tol
    assert clear.mean() > 0.95
    np.testing.assert_array_equal(label[clear], ours.predict(X_test)[clear])


def test_to_sklearn_without_sklearn_names_package():
    code = (
        "import sys; sys.modules['sklearn'] = None\n"
        "import numpy as np\n"
        "from isoforest import IsolationForest\n"
        "m = IsolationForest(n_estimators=2, random_state=0).fit(np.eye(5))\n"
        "try:\n    m.to_sklearn()\nexcept ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert "pip install scikit-learn" in out


# -------------------------------------------------------------- decision_path
def _sklearn_indicator(sk, X):
    sp = pytest.importorskip("scipy.sparse")
    parts = [est.decision_path(X[:, feats].astype(np.float32))
             for est, feats in zip(sk.estimators_, sk.estimators_features_)]
    return sp.hstack(parts).tocsr()


@pytest.mark.parametrize("params", [dict(), dict(max_features=0.5, bootstrap=True)])
def test_decision_path_equals_sklearn_trees(params):
    pytest.importorskip("scipy")
    X, X_test = _data(9)
    # scikit-learn fits its own trees (identical to ours): no export involved
    sk = SkIsolationForest(n_estimators=12, random_state=4, **params).fit(X)
    ours = IsolationForest(n_estimators=12, random_state=4, **params).fit(X)
    indicator, ptr = ours.decision_path(X_test)
    want = _sklearn_indicator(sk, X_test)
    assert indicator.format == "csr" and indicator.shape == want.shape
    assert indicator.dtype == want.dtype
    np.testing.assert_array_equal(indicator.indptr, want.indptr)
    np.testing.assert_array_equal(indicator.indices, want.indices)
    np.testing.assert_array_equal(indicator.data, want.data)
    np.testing.assert_array_equal(ptr, np.cumsum([0] + [e.tree_.node_count
                                                        for e in sk.estimators_]))
    # each row passes through depth(leaf) nodes of each tree, ending at apply()'s leaf
    leaves = ours.apply(X_test)
    for t in range(3):
        block = indicator[:, ptr[t]:ptr[t + 1]].toarray()
        np.testing.assert_array_equal(block[np.arange(len(X_test)), leaves[:, t]], 1)


def test_tree_structure_is_sklearns_tree_and_paths():
    pytest.importorskip("scipy")
    X, X_test = _data(3)
    sk = SkIsolationForest(n_estimators=4, max_features=0.5, random_state=2).fit(X)
    ours = IsolationForest(n_estimators=4, max_features=0.5, random_state=2).fit(X)
    indicator, ptr = ours.decision_path(X_test[:7])
    for t in range(4):
        got = isoforest.tree_structure(ours, t, X_test[:7])
        tree = sk.estimators_[t].tree_
        cols = sk.estimators_features_[t]
        np.testing.assert_array_equal(got.children_left, tree.children_left)
        np.testing.assert_array_equal(got.children_right, tree.children_right)
        leaf = tree.children_left == -1
        np.testing.assert_array_equal(got.feature[leaf], -2)
        np.testing.assert_array_equal(got.feature[~leaf], cols[tree.feature[~leaf]])
        np.testing.assert_array_equal(got.threshold[~leaf], tree.threshold[~leaf])
        np.testing.assert_array_equal(got.n_node_samples, tree.n_node_samples)
        np.testing.assert_allclose(got.depth[leaf] + average_path_length(
            got.n_node_samples[leaf]), got.leaf_value[leaf], rtol=1e-14)
        assert got.depth[0] == 0 and got.feature_names == ["x0", "x1", "x2", "x3"]
        # the rows' paths are decision_path's columns of this tree
        block = indicator[:, ptr[t]:ptr[t + 1]].toarray()
        assert got.on_path == frozenset(np.flatnonzero(block.any(axis=0)).tolist())
        np.testing.assert_array_equal(got.leaves, ours.apply(X_test[:7])[:, t])
    bare = isoforest.tree_structure(ours, 1, feature_names=list("abcd"))
    assert bare.on_path == frozenset() and bare.leaves is None
    assert bare.feature_names == list("abcd")
    with pytest.raises(ValueError, match="tree must be in"):
        isoforest.tree_structure(ours, 4)


def test_decision_path_in_chunks(monkeypatch):
    """Rows gathered a few at a time give the same matrix."""
    import isoforest.forest._export as export

    X, X_test = _data(15)
    ours = IsolationForest(n_estimators=6, random_state=1).fit(X)
    whole, _ = ours.decision_path(X_test)
    monkeypatch.setattr(export, "DECISION_PATH_CHUNK", 100)  # ~1 row per chunk
    chunked, _ = ours.decision_path(X_test)
    np.testing.assert_array_equal(chunked.indices, whole.indices)
    np.testing.assert_array_equal(chunked.indptr, whole.indptr)


def test_decision_path_sparse_input_and_errors():
    sp = pytest.importorskip("scipy.sparse")
    X, _ = _data(10, nan=False)
    ours = IsolationForest(n_estimators=4, random_state=0).fit(X)
    dense, _ = ours.decision_path(X[:30])
    sparse, _ = ours.decision_path(sp.csr_matrix(X[:30]))
    assert (dense != sparse).nnz == 0
    with pytest.raises(ValueError, match="features"):
        ours.decision_path(X[:5, :2])


# ---------------------------------------------------------------- export_text
@pytest.mark.parametrize("kw", [dict(), dict(decimals=2, max_depth=2, spacing=2),
                                dict(max_depth=0, decimals=5)])
@pytest.mark.parametrize("max_features", [1.0, 0.5])
def test_export_text_is_sklearns_format(kw, max_features):
    from sklearn.tree import export_text as sk_export_text

    X, _ = _data(11)
    ours = IsolationForest(n_estimators=3, max_features=max_features,
                           random_state=2).fit(X)
    names = [f"col{j}" for j in range(X.shape[1])]
    sk_own = SkIsolationForest(n_estimators=3, max_features=max_features,
                               random_state=2).fit(X)
    twin = ours.to_sklearn()
    sk_kw = dict(kw)
    sk_kw.setdefault("decimals", 3)
    for t in range(3):
        feats = sk_own.estimators_features_[t]
        got = export_text(ours, tree=t, feature_names=names, **kw)
        # the twin holds path lengths in tree_.value: the whole text is identical
        assert got == sk_export_text(twin.estimators_[t],
                                     feature_names=[names[j] for j in feats], **sk_kw)
        # scikit-learn's own fit holds the dummy target's means there: every split
        # and truncation line is identical, the leaves are at the same places
        theirs = sk_export_text(sk_own.estimators_[t],
                                feature_names=[names[j] for j in feats], **sk_kw)
        strip = lambda s: re.sub(r"value: \[[^\]]*\]", "value", s)  # noqa: E731
        assert strip(got) == strip(theirs)


def test_export_text_defaults_and_errors():
    X, _ = _data(12, nan=False)
    ours = IsolationForest(n_estimators=2, random_state=0).fit(X)
    text = export_text(ours)
    assert text.startswith("|--- x")
    leaves = ours.forest_.n_node_samples[:ours.forest_.tree_offsets[1]][
        ours.estimators_[0].tree_.children_left == -1]
    assert text.count("value: [") + text.count("truncated branch") <= len(leaves)
    with pytest.raises(ValueError, match="feature_names must contain 4 elements, got 2"):
        export_text(ours, feature_names=["a", "b"])
    with pytest.raises(ValueError, match="tree must be in"):
        export_text(ours, tree=2)
    with pytest.raises(ValueError, match="'decimals' parameter"):
        export_text(ours, decimals=-1)
    from isoforest import NotFittedError

    with pytest.raises(NotFittedError):
        export_text(IsolationForest())


# ------------------------------------------------------------ export_graphviz
_NODE = re.compile(r'^(\d+) \[label="((?:[^"\\]|\\.)*)"(.*)\] ;$')
_EDGE = re.compile(r"^(\d+) -> (\d+) \[(.*)\] ;$")


def _parse_dot(dot):
    """Minimal DOT reader for what export_graphviz writes (no graphviz needed)."""
    lines = dot.strip().splitlines()
    assert lines[0] == "digraph Tree {" and lines[-1] == "}"
    nodes, edges = {}, []
    for line in lines[1:-1]:
        if line.startswith(("node [", "edge [")):
            continue
        m = _EDGE.match(line)
        if m:
            edges.append((int(m[1]), int(m[2]), m[3]))
            continue
        m = _NODE.match(line)
        assert m, line
        nodes[int(m[1])] = (m[2], m[3])
    return nodes, edges


def test_export_graphviz_structure_and_highlight():
    pytest.importorskip("scipy")
    X, _ = _data(13, nan=False)
    ours = IsolationForest(n_estimators=4, random_state=0).fit(X)
    sk = SkIsolationForest(n_estimators=4, random_state=0).fit(X)
    rows = X[[0, 5, 17]]
    t = 2
    tree = sk.estimators_[t].tree_
    nodes, edges = _parse_dot(export_graphviz(ours, tree=t, X=rows))
    assert sorted(nodes) == list(range(tree.node_count))
    assert len(edges) == tree.node_count - 1
    want_edges = {(p, c) for p in range(tree.node_count) if tree.children_left[p] != -1
                  for c in (tree.children_left[p], tree.children_right[p])}
    assert {(p, c) for p, c, _ in edges} == want_edges
    # highlighted nodes: exactly those scikit-learn's decision_path visits
    visited = set(np.flatnonzero(np.asarray(
        sk.estimators_[t].decision_path(rows.astype(np.float32)).sum(axis=0)).ravel()))
    lit = {n for n, (_, attrs) in nodes.items() if "filled" in attrs}
    assert lit == visited
    lit_edges = {(p, c) for p, c, attrs in edges if "penwidth=3" in attrs}
    assert lit_edges == {(p, c) for p, c in want_edges if p in visited and c in visited}
    # leaves: depth + c(n) = h, and the rows ending there
    depth = tree.compute_node_depths() - 1
    leaf_of = sk.estimators_[t].apply(rows.astype(np.float32))
    for n, (label, _) in nodes.items():
        if tree.children_left[n] == -1:
            h = depth[n] + average_path_length(tree.n_node_samples[n])
            assert f"leaf: depth {depth[n]}" in label and label.endswith(
                f"= {h:.3f}") or "rows here" in label
        else:
            assert label.startswith(f"x{tree.feature[n]} <= ")
    for i, leaf in enumerate(leaf_of):
        assert re.search(rf"rows here: [^\"]*\b{i}\b", nodes[leaf][0])


def test_export_graphviz_without_rows_and_names():
    X, _ = _data(14, nan=False)
    ours = IsolationForest(n_estimators=2, random_state=0).fit(X)
    dot = export_graphviz(ours, tree=1, feature_names=['a"b', "c", "d", "e"])
    nodes, edges = _parse_dot(dot)
    assert not any("filled" in attrs for _, attrs in nodes.values())
    assert len(nodes) == ours.estimators_[1].tree_.node_count
    assert dot.count("{") == dot.count("}")


def test_import_isoforest_stays_light():
    code = ("import sys, isoforest\n"
            "bad = [m for m in ('sklearn', 'matplotlib', 'pandas', 'shap', 'skl2onnx')"
            " if m in sys.modules]\nprint(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("make", [
    lambda X: isoforest.ExtendedIsolationForest(n_estimators=3, random_state=0).fit(X),
    lambda X: isoforest.ZScoreDetector().fit(X),
    lambda X: "a forest",
])
def test_exporters_refuse_what_is_not_an_isolation_forest(make):
    X = np.random.RandomState(0).randn(50, 2)
    for export in (isoforest.export_text, isoforest.export_graphviz,
                   isoforest.tree_structure):
        with pytest.raises(TypeError, match="Expected an isoforest.IsolationForest"):
            export(make(X))
