"""A saved model file taken apart and written back, as the tampering tests need it.

``read_parts`` gives the arrays and the metadata; ``write_parts`` writes them back
re-signed as a forger would: the arrays' sha256 in the metadata recomputed (when the
metadata keeps that entry), so what a test exercises is the structural validation
behind the checksums. ``sync_arrays`` also rewrites the metadata's list of arrays;
``unsigned`` names entries left out of the checksums (a signature).
"""

import json

import numpy as np

from isoforest.io._model_files import _digest


def read_parts(path):
    """(arrays by name, metadata) of the model file at ``path``."""
    with np.load(path, allow_pickle=False) as data:
        entries = {k: data[k].copy() for k in data.files}
    meta = json.loads(bytes(entries.pop("metadata")).decode("utf-8"))
    return entries, meta


def write_parts(path, entries, meta, sync_arrays=False, resign=True, unsigned=()):
    """Write ``entries`` and ``meta`` as a model file at ``path``; return ``path``."""
    entries = {k: np.ascontiguousarray(v) for k, v in entries.items()}
    if sync_arrays:
        meta = dict(meta, arrays=sorted(entries))
    if resign and isinstance(meta, dict) and "sha256" in meta:
        meta = dict(meta, sha256={k: _digest(v) for k, v in entries.items()
                                  if k not in unsigned})
    entries["metadata"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    with open(path, "wb") as fh:
        np.savez(fh, **entries)
    return path
