"""One place that decides how every kernel is compiled and how many threads it uses.

Environment variables
---------------------
ISOFOREST_CACHE
    ``1`` (default) caches compiled kernels on disk (Numba's ``cache=True``), so a
    fresh process skips compilation; ``0`` turns the cache off.
ISOFOREST_SIMD
    ``0`` keeps Isolation Forest scoring on the scalar kernel even where the CPU has
    AVX-512 (see ``isoforest.forest._simd``), and Extended Isolation Forest scoring
    on its lock-step kernel (see ``isoforest.forest._eif_simd``); the scores are
    the same either way.
NUMBA_DISABLE_JIT, NUMBA_BOUNDSCHECK
    Numba's own switches; the test suite runs once under each.
OMP_WAIT_POLICY
    Read, never left changed: see ``launch_threading_layer``.
"""

import contextlib
import os
import threading
import types

import numba  # noqa: E402

# Thread-safe layers first: several threads of one process (a server) may launch
# parallel kernels at once, which Numba's default fallback, 'workqueue', does not
# support (it aborts the process). OpenMP ships with the compilers on Linux.
numba.config.THREADING_LAYER_PRIORITY = ["omp", "tbb", "workqueue"]
_WORKQUEUE_LOCK = threading.RLock()

__all__ = ["njit_options", "jit", "jit_inline", "jit_contract", "jit_parallel", "num_threads",
           "effective_n_jobs"]


def _env_flag(name, default):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() not in ("0", "false", "no", "off")


#: Options shared by every kernel. ``fastmath`` stays off on purpose: it would
#: reassociate sums and contract ``a * b + c`` into FMAs, and the scores would no
#: longer be scikit-learn's to the last bit.
njit_options = {
    "cache": _env_flag("ISOFOREST_CACHE", True),
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
