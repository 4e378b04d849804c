"""Loading the compiled top-k kernel (`kernel.py`, numba) off the critical path.

numba costs about a third of a second to import, and compiling the kernel the first time
takes a few seconds more (later processes read it from numba's cache). A process that
needs the kernel starts loading it in a background thread and keeps using the numpy top-k
until it is ready; if numba is missing or fails, it keeps numpy for good.
"""

import atexit
import logging
import threading
from types import ModuleType

log = logging.getLogger(__name__)

EXIT_WAIT_S = 120.0  # at most, at exit: a first compile takes a few seconds

_lock = threading.Lock()
_done = threading.Event()
_started = False
_kernel: ModuleType | None = None


def get() -> ModuleType | None:
    """The compiled kernel module if it is loaded, else None (never waits)."""
    return _kernel


def start() -> None:
    """Start loading the kernel in a background thread (once per process)."""
    global _started
    with _lock:
        if _started:
            return
        _started = True
    loading = threading.Thread(target=_load, name="feedqa-kernel", daemon=True)
    loading.start()
    # a compile runs inside LLVM without the GIL: exiting under it runs LLVM's static
    # destructors beneath it, and the process aborts after its work is done (a forked
    # child has no such thread: it does not wait)
    atexit.register(loading.join, EXIT_WAIT_S)


def load(timeout: float | None = None) -> ModuleType | None:
    """Load the kernel (waiting up to `timeout` seconds); None if it is not available."""
    start()
    _done.wait(timeout)
    return _kernel


def _load() -> None:
    global _kernel
    try:
        from . import kernel

        kernel.warm()
        _kernel = kernel
    except Exception as exc:  # numba missing, too old or unable to compile: numpy it is
        log.info("compiled top-k unavailable, using numpy: %s", exc)
    finally:
        _done.set()
