"""Shared by the golden-output scripts: reproducible .npz archives."""

import io
import zipfile

import numpy as np

#: Fixed member timestamp: the same arrays always give the same archive bytes.
ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def npz_bytes(arrays):
    """An .npz archive (np.load reads it) with fixed timestamps: reproducible bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key in sorted(arrays):
            member = io.BytesIO()
            np.lib.format.write_array(member, arrays[key], allow_pickle=False)
            info = zipfile.ZipInfo(key + ".npy", date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, member.getvalue(), compresslevel=9)
    return buf.getvalue()


def npz_arrays(raw):
    """The arrays of the .npz archive bytes ``raw``, by name."""
    with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
        return {key: npz[key] for key in npz.files}


def simd_key():
    """The SIMD extensions NumPy dispatches to on this machine, as ``"X86_V3"`` or
    ``"X86_V3+X86_V4+AVX512_ICL"``: its float64 ``log`` and ``power`` (which
    scikit-learn's Isolation Forest scores go through) take other kernels, rounding
    the last bit otherwise, on machines with other extensions."""
    found = np.show_config(mode="dicts")["SIMD Extensions"]["found"]
    return "+".join(found) or "baseline"
