""":func:`show_config`: versions, CPU features, settings, and the kernel path each
estimator takes with the settings in force.

Nothing here changes the process: the AMX permission is not asked, the threading
layer not started, no optional package imported beyond looking up its version.
"""

import platform
import sys
from importlib import metadata

from ._config import get_config
from ._simd._ir import host_has_amx_bf16, host_has_avx512

__all__ = ["show_config", "runtime_report", "kernel_paths"]

EXTRAS = {"pyarrow": "arrow", "dask": "dask", "distributed": "dask", "matplotlib": "plot",
          "shap": "shap", "scikit-learn": "sklearn", "skl2onnx": "onnx",
          "onnxruntime": "onnx", "pika": "amqp", "prometheus-client": "metrics"}


def _version(dist):
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _cpu():
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def kernel_paths(config):
    """{estimator or job: the path its kernels take} for ``config``."""
    import numba

    jit = not numba.config.DISABLE_JIT
    simd = jit and config["simd"]
    avx512 = host_has_avx512()
    paths = {}
    if not jit:
        walk = "Python (NUMBA_DISABLE_JIT)"
    elif simd and avx512:
        walk = "AVX-512 vector walk (IR) for complete trees of depth <= 10, Numba otherwise"
    else:
        walk = "Numba scalar walk" + ("" if avx512 else " (no AVX-512F)")
    paths["IsolationForest.score_samples"] = walk
    paths["ExtendedIsolationForest.score_samples"] = (
        "lock-step vector walk (IR) up to 60 features, Numba otherwise" if simd
        else "Numba walk")
    if not config["lof_symmetric"]:
        lof = "one-block GEMM search (BLAS float32), checked exactly"
    elif simd and config["lof_tiles"] and avx512 and config["amx"] and host_has_amx_bf16():
        lof = ("symmetric search on AMX bfloat16 tiles (Linux's permission asked on first "
               "use; AVX-512 tiles if refused), checked exactly")
    elif simd and config["lof_tiles"] and avx512:
        lof = "symmetric search on AVX-512 tiles (IR), checked exactly"
    else:
        lof = "symmetric search on BLAS float32 products, checked exactly"
    paths["LocalOutlierFactor (training rows)"] = lof
    arrow = _version("pyarrow")
    paths["CSV numbers"] = (f"pyarrow {arrow}" if config["arrow"] and arrow else
                            "NumPy's parser" + ("" if arrow else " (pyarrow not installed)"))
    return paths


def runtime_report():
    import numba
    import numpy as np

    config = get_config()
    try:
        features = [name for name, has in (("avx512f", host_has_avx512()),
                                           ("amx-bf16", host_has_amx_bf16())) if has]
    except Exception:  # llvmlite without host detection
        features = []
    try:
        layer = numba.threading_layer()
    except ValueError:
        layer = "not started (first of " + ", ".join(
            numba.config.THREADING_LAYER_PRIORITY) + ")"
    lines = [
        f"isoforest {_version('isoforest') or 'not installed'}",
        f"python {platform.python_version()} ({sys.executable})",
        f"numpy {np.__version__}, numba {numba.__version__}, llvmlite {_version('llvmlite')}",
        "extras: " + ", ".join(
            f"{dist} {v}" if (v := _version(dist)) else f"{dist} - (isoforest[{extra}])"
            for dist, extra in EXTRAS.items()),
        f"cpu: {_cpu()}; {', '.join(features) or 'neither avx512f nor amx-bf16'}",
        f"threads: {numba.config.NUMBA_NUM_THREADS}; threading layer {layer}",
        "jit: " + ("off (NUMBA_DISABLE_JIT)" if numba.config.DISABLE_JIT else "on")
        + (", bounds checked" if numba.config.BOUNDSCHECK else ""),
        "config: " + ", ".join(f"{k}={v}" for k, v in config.items()),
        "kernel paths:",
    ]
    lines += [f"  {job}: {path}" for job, path in kernel_paths(config).items()]
    return "\n".join(lines)


def show_config(file=None):
    """Print what runs here: the versions, the CPU's features, the settings and the
    kernel path each estimator takes with them (like ``numpy.show_runtime()``).

    Nothing in the process changes: the AMX permission is not asked, the threading
    layer not started, no optional package imported.

    Parameters
    ----------
    file : writable text file, default=sys.stdout

    See Also
    --------
    get_config, set_config, config_context
    """
    print(runtime_report(), file=file)
