"""One configuration: how kernels are compiled, which paths they take, how files are
read; and how many threads the kernels use.

In the manner of scikit-learn's ``sklearn._config``: :func:`get_config`,
:func:`set_config` and :func:`config_context` (a setting for the enclosed block, on
the calling thread only); ``isoforest.show_config()`` (``isoforest._runtime``) prints
the versions, the CPU's features and the kernel path each estimator takes with the
settings now.

Settings, their environment variables (read once, when isoforest is imported; a
flag is off for ``0``, ``false``, ``no``, ``off`` and on for ``1``, ``true``,
``yes``, ``on``, any case; another value is refused at import) and defaults:

``cache`` (``ISOFOREST_CACHE``, on)
    Compiled kernels are cached on disk (Numba's ``cache=True``), so a fresh process
    skips compilation. Read when the kernels are defined, at import: it can only be
    set through the environment.
``simd`` (``ISOFOREST_SIMD``, on)
    The hand-written vector kernels (``isoforest._simd``): Isolation Forest scoring on
    AVX-512, Extended Isolation Forest's lock-step walk, LOF's AVX-512 block
    products. The answers are the same either way.
``amx`` (``ISOFOREST_AMX``, on)
    LOF's block products on AMX bfloat16 tiles where the CPU has them (Linux is
    asked once per process, on first use, for the tile-data permission).
``lof_symmetric``, ``lof_tiles`` (``ISOFOREST_LOF_SYMMETRIC``, ``ISOFOREST_LOF_TILES``, on)
    LOF's training rows take the symmetric search, and its block products the vector
    tiles where available (both for comparisons: the neighbours are the same).
``arrow`` (``ISOFOREST_ARROW``, on)
    CSV numbers are parsed by pyarrow where it is installed (off: NumPy's parser;
    the same bytes come out).
``arrow_threads`` (``ISOFOREST_ARROW_THREADS``, off)
    pyarrow's CSV reader uses its own threads.
``csv_block``, ``arrow_block`` (``ISOFOREST_CSV_BLOCK``, ``ISOFOREST_ARROW_BLOCK``: 4 MiB, 1 MiB)
    Bytes per chunk of a CSV file, and per pyarrow parse.
``batch_rows`` (``ISOFOREST_BATCH_ROWS``, 262144)
    Rows per record batch of a Parquet or Arrow file.
``hold_bytes`` (``ISOFOREST_HOLD_BYTES``, 256 MiB)
    ``isoforest detect`` reads a larger file twice (count, then the drawn rows)
    instead of holding it (0: every file).
``max_record_bytes`` (``ISOFOREST_MAX_RECORD_BYTES``, 16 MiB)
    The longest CSV record (or stream line) taken: past it the input is refused
    (``detect``, ``fit``, ``score``: exit 1) or the line skipped with a reason
    (``stream``), so a quote that never closes cannot make memory grow with the
    input. The command line's ``--max-record-bytes``.
``gemm_block`` (``ISOFOREST_GEMM_BLOCK``, 1048576)
    Elements of one block of products in LOF's brute-force search (query rows times
    training rows), held by each thread at once: 4 MiB in float32 by default, so two
    threads' blocks stay in cache between the product and the scan; never an n x n
    matrix. Smaller blocks give the threads more blocks; the neighbours are the same.

Numba's own ``NUMBA_DISABLE_JIT`` and ``NUMBA_BOUNDSCHECK`` apply as usual (the test
suite runs under each); ``OMP_WAIT_POLICY`` is read, never left changed (see
:func:`launch_threading_layer`).
"""

import contextlib
import numbers
import os
import threading
import types

from numpy import bool_ as np_bool

import numba  # noqa: E402

# Thread-safe layers first: several threads of one process (a server) may launch
# parallel kernels at once, which Numba's default fallback, 'workqueue', does not
# support (it aborts the process). OpenMP ships with the compilers on Linux.
numba.config.THREADING_LAYER_PRIORITY = ["omp", "tbb", "workqueue"]
_WORKQUEUE_LOCK = threading.RLock()

__all__ = ["get_config", "set_config", "config_context", "setting", "njit_options", "jit",
           "jit_inline", "jit_contract", "jit_parallel", "num_threads", "effective_n_jobs"]

_FALSE = ("0", "false", "no", "off")
_TRUE = ("1", "true", "yes", "on")


def _flag(name, text):
    value = text.strip().lower()
    if value in _FALSE:
        return False
    if value in _TRUE:
        return True
    raise ValueError(f"{name}={text!r}: expected one of {', '.join(_TRUE + _FALSE)}")


def _size(name, text, least=1):
    try:
        value = int(text.strip())
    except ValueError:
        value = least - 1
    if value < least:
        raise ValueError(f"{name}={text!r}: expected an integer >= {least}")
    return value


def _bytes(name, text):
    return _size(name, text, least=0)


# setting: (environment variable, parser, default)
_SETTINGS = {
    "cache": ("ISOFOREST_CACHE", _flag, True),
    "simd": ("ISOFOREST_SIMD", _flag, True),
    "amx": ("ISOFOREST_AMX", _flag, True),
    "lof_symmetric": ("ISOFOREST_LOF_SYMMETRIC", _flag, True),
    "lof_tiles": ("ISOFOREST_LOF_TILES", _flag, True),
    "arrow": ("ISOFOREST_ARROW", _flag, True),
    "arrow_threads": ("ISOFOREST_ARROW_THREADS", _flag, False),
    "csv_block": ("ISOFOREST_CSV_BLOCK", _size, 4 << 20),
    "arrow_block": ("ISOFOREST_ARROW_BLOCK", _size, 1 << 20),
    "batch_rows": ("ISOFOREST_BATCH_ROWS", _size, 1 << 18),
    "hold_bytes": ("ISOFOREST_HOLD_BYTES", _bytes, 256 << 20),
    "max_record_bytes": ("ISOFOREST_MAX_RECORD_BYTES", _size, 16 << 20),
    "gemm_block": ("ISOFOREST_GEMM_BLOCK", _size, 1 << 20),
}
_READ_ONLY = ("cache",)


def _from_environment(environ):
    config = {}
    for key, (name, parse, default) in _SETTINGS.items():
        text = environ.get(name, "")
        config[key] = default if text.strip() == "" else parse(name, text)
    return config


_global_config = _from_environment(os.environ)
_local = threading.local()


def _current():
    if not hasattr(_local, "config"):
        _local.config = _global_config.copy()
    return _local.config


def get_config():
    """The settings now in force on this thread (a copy): see the module's docstring.

    Returns
    -------
    config : dict
        Setting name to value.

    See Also
    --------
    set_config, config_context
    """
    return _current().copy()


def setting(key):
    """One setting now in force on this thread, without copying them all (for the
    kernels' dispatch on every call)."""
    return _current()[key]


def _checked(changes):
    for key, value in changes.items():
        if key not in _SETTINGS:
            raise TypeError(f"set_config() got an unexpected keyword argument {key!r}; "
                            f"the settings are {', '.join(_SETTINGS)}")
        if key in _READ_ONLY:
            raise ValueError(f"{key} is read when isoforest is imported: set "
                             f"{_SETTINGS[key][0]} in the environment instead")
        _, parse, default = _SETTINGS[key]
        least = 0 if parse is _bytes else 1
        if isinstance(default, bool):
            if not isinstance(value, (bool, np_bool)):
                raise TypeError(f"{key} must be a bool, got {value!r}")
        elif (isinstance(value, bool) or not isinstance(value, numbers.Integral)
              or value < least):
            raise ValueError(f"{key} must be an integer >= {least}, got {value!r}")
    return {k: (bool(v) if isinstance(_SETTINGS[k][2], bool) else int(v))
            for k, v in changes.items()}


def set_config(**changes):
    """Change settings for this thread and the threads started after, like
    scikit-learn's ``set_config`` (the others keep theirs).

    Parameters
    ----------
    **changes
        ``simd``, ``amx``, ``lof_symmetric``, ``lof_tiles``, ``arrow``,
        ``arrow_threads`` (bool); ``csv_block``, ``arrow_block``, ``batch_rows``
        (int >= 1), ``hold_bytes`` (int >= 0), ``max_record_bytes`` (int >= 1). ``cache`` is set through ``ISOFOREST_CACHE``
        only.

    See Also
    --------
    get_config, config_context

    Examples
    --------
    >>> import isoforest
    >>> isoforest.set_config(simd=False)
    >>> isoforest.get_config()["simd"]
    False
    >>> isoforest.set_config(simd=True)
    """
    changes = _checked(changes)
    _global_config.update(changes)
    _current().update(changes)


@contextlib.contextmanager
def config_context(**changes):
    """Settings for the enclosed block on this thread, restored on leaving it.

    Parameters
    ----------
    **changes
        As :func:`set_config`.

    Examples
    --------
    >>> import numpy as np, isoforest
    >>> X = np.random.RandomState(0).randn(500, 3)
    >>> model = isoforest.IsolationForest(random_state=0).fit(X)
    >>> with isoforest.config_context(simd=False):  # the scalar kernel: same scores
    ...     plain = model.score_samples(X)
    >>> bool((plain == model.score_samples(X)).all())
    True
    """
    changes = _checked(changes)
    config = _current()
    saved = config.copy()
    config.update(changes)
    try:
        yield
    finally:
        config.clear()
        config.update(saved)


#: Options shared by every kernel. ``fastmath`` stays off on purpose: it would
#: reassociate sums and contract ``a * b + c`` into FMAs, and the scores would no
#: longer be scikit-learn's to the last bit.
njit_options = {
    "cache": _global_config["cache"],
    "nogil": True,
    "fastmath": False,
    "error_model": "numpy",
}


def _variant(func, suffix, globals_=None):
    """A copy of ``func`` under another qualified name.

    Numba names its on-disk cache after the function's qualified name and line and
    does not key it on compile flags: a serial and a parallel kernel made from one
    Python function would share cache entries, and a process could load the other
    variant (seen here: wrong timings, then a segfault). Each variant gets its own
    name, hence its own cache files. ``globals_`` replaces the module globals the
    copy sees (Numba freezes global scalars and functions as constants), for kernels
    specialised per variant.
    """
    if globals_ is None:
        globals_ = func.__globals__
    clone = types.FunctionType(func.__code__, globals_, func.__name__ + suffix,
                               func.__defaults__, func.__closure__)
    clone.__qualname__ = func.__qualname__ + suffix
    clone.__module__ = func.__module__
    clone.__doc__ = func.__doc__
    return clone


def jit(func):
    """Compile ``func`` as a serial kernel."""
    return numba.njit(**njit_options)(func)


def jit_inline(func):
    """Compile ``func`` to be inlined into its callers at Numba's IR level.

    For tiny helpers on hot paths: a real call passes arrays across a function
    boundary, where Numba's atomic reference counting can survive optimisation.
    """
    return numba.njit(inline="always", **njit_options)(func)


def jit_contract(func):
    """Compile ``func`` as a serial kernel whose ``a * b + c`` may become FMAs.

    Only for products that pick candidates under a proven error bound (FMA rounds
    once where a product and a sum round twice, so any bound for the plain
    arithmetic holds), never for a value that is returned or compared exactly.
    """
    return numba.njit(**dict(njit_options, fastmath={"contract"}))(func)


def jit_parallel(func):
    """Compile ``func`` with ``parallel=True`` (its ``numba.prange`` loops run on threads)."""
    return numba.njit(parallel=True, **njit_options)(_variant(func, "__parallel"))


def effective_n_jobs(n_jobs):
    """Map scikit-learn's ``n_jobs`` convention onto a thread count.

    ``None`` means 1, ``-1`` all cores, ``-2`` all but one, and so on; the result is
    clipped to ``[1, numba.config.NUMBA_NUM_THREADS]``.
    """
    max_threads = numba.config.NUMBA_NUM_THREADS
    if n_jobs is None:
        return 1
    n_jobs = int(n_jobs)
    if n_jobs == 0:
        raise ValueError("n_jobs == 0 in Parallel has no meaning")
    if n_jobs < 0:
        n_jobs = max(max_threads + 1 + n_jobs, 1)
    return int(min(n_jobs, max_threads))


_LAYER_LOCK = threading.Lock()
_layer_launched = False


def launch_threading_layer():
    """Start Numba's threading layer with OpenMP's idle workers waiting passively,
    leaving the process environment as the user had it.

    Numba's OpenMP layer (GNU libgomp on Linux) spins its idle workers by default;
    on a small machine the spinning threads steal the cores the kernels need
    (measured: 2 threads no faster than 1). libgomp reads ``OMP_WAIT_POLICY`` once,
    when it is loaded, which Numba does when its threading layer starts (the first
    parallel launch or thread-count call). So, unless the user set
    ``OMP_WAIT_POLICY`` (their value then applies, untouched), it is set to
    ``passive`` for that moment only and deleted right after: libraries loaded
    later, and processes started later, see the user's environment.

    Notes
    -----
    What remains process-wide: the OpenMP runtime itself. Numba's layer links the
    system ``libgomp.so.1``; any other library in the process using that same
    shared object (not a bundled copy under another name, such as scikit-learn's
    or PyTorch's ``libgomp-<hash>.so``, which read the environment themselves)
    shares the passive policy chosen here if isoforest loaded it first, and
    conversely, if it was loaded before isoforest's first parallel kernel, its
    policy (read from the environment at that time) applies to isoforest's
    kernels. Numba's other layers (TBB, workqueue) do not read the variable. The
    variable is set for a few microseconds while the layer loads; another Python
    thread reading the environment in that window would see it.
    """
    global _layer_launched
    if _layer_launched:
        return
    with _LAYER_LOCK:
        if _layer_launched:
            return
        from numba.np.ufunc import parallel

        if not getattr(parallel, "_is_initialized", False):
            key = "OMP_WAIT_POLICY"
            user_set = key in os.environ
            if not user_set:
                os.environ[key] = "passive"
            try:
                parallel._launch_threads()
            finally:
                if not user_set:
                    os.environ.pop(key, None)
        _layer_launched = True


def _layer_is_threadsafe():
    try:
        return numba.threading_layer() != "workqueue"
    except ValueError:  # no parallel kernel has run yet: the layer is not chosen
        return False


@contextlib.contextmanager
def num_threads(n_jobs):
    """Run the enclosed kernels on ``effective_n_jobs(n_jobs)`` threads.

    Numba's thread count is per calling thread; it is restored in ``finally`` so an
    exception inside a kernel never leaves a changed setting behind. When only the
    'workqueue' layer is available, parallel launches from several threads are
    serialised with a lock instead of crashing the process.
    """
    wanted = effective_n_jobs(n_jobs)
    if numba.config.DISABLE_JIT:
        yield wanted
        return
    launch_threading_layer()
    locked = wanted > 1 and not _layer_is_threadsafe()
    if locked:
        _WORKQUEUE_LOCK.acquire()
    previous = numba.get_num_threads()
    numba.set_num_threads(wanted)
    try:
        yield wanted
    finally:
        numba.set_num_threads(previous)
        if locked:
            _WORKQUEUE_LOCK.release()
