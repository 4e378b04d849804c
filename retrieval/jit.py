"""Loading the compiled top-k kernel (`kernel.py`, numba) off the critical path.

numba costs about a third of a second to import, and compiling the kernel the first time
takes a few seconds more (later processes read it from numba's cache). A process that
needs the kernel starts loading it in a background thread and keeps using the numpy top-k
until it is ready; if numba is missing or fails, it keeps numpy for good.
"""

import atexit
import logging
import os
import threading
from types import ModuleType

log = logging.getLogger(__name__)

EXIT_WAIT_S = 120.0  # at most, at exit: a first compile takes a few seconds

_lock = threading.Lock()
_done = threading.Event()
_started = False
_kernel: ModuleType | None = None
_loader: threading.Thread | None = None


def get() -> ModuleType | None:
    """The compiled kernel module if it is loaded, else None (never waits)."""
    return _kernel


def start() -> None:
    """Start loading the kernel in a background thread (once per process)."""
    global _started, _loader
    with _lock:
        if _started:
            return
        _started = True
        _loader = threading.Thread(target=_load, name="feedqa-kernel", daemon=True)
    _loader.start()


@atexit.register
def _wait_at_exit() -> None:
    """A compile runs inside LLVM without the GIL: exiting under it runs LLVM's static
    destructors beneath it, and the process aborts after its work is done. Only this
    process's own load is waited for (a forked child has no thread of its parent's)."""
    if _loader is not None and _loader.is_alive():
        _loader.join(EXIT_WAIT_S)


def _forked() -> None:
    """In a child forked while the kernel loaded: no thread loads it, so start anew."""
    global _started, _done, _lock
    if _started and not _done.is_set():
        _started, _done, _lock = False, threading.Event(), threading.Lock()


os.register_at_fork(after_in_child=_forked)


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
