"""Loading the compiled top-k kernel (`kernel.py`, numba) off the critical path.

numba costs about a third of a second to import, and compiling the kernel the first time
takes a quarter of a minute or more for each width of scores (later processes read it from
numba's cache). A process that needs the kernel starts loading it in a background thread
and keeps using the numpy top-k until it is ready; if numba is missing or fails, it keeps
numpy for good. Only the widths in use are compiled: float32, or float64 for okapi's idf.
"""

import atexit
import contextlib
import logging
import os
import sys
import threading
from types import ModuleType

log = logging.getLogger(__name__)

EXIT_WAIT_S = 120.0  # at most, at exit: a first compile takes about 15 s on two cores
QUIET_WAIT_S = 1.5  # ... said only past this
DEFAULT = "float32"  # the scores' width of the default BM25 parameters

_lock = threading.Lock()
_loads: dict[str, tuple[threading.Thread, threading.Event]] = {}  # by width, once started
_ready: set[str] = set()
_kernel: ModuleType | None = None


def get(width: str = DEFAULT) -> ModuleType | None:
    """The compiled kernel module if it is loaded for scores of `width`, else None (never
    waits)."""
    return _kernel if width in _ready else None


def start(width: str = DEFAULT) -> None:
    """Start loading the kernel for scores of `width` in a background thread (once each)."""
    with _lock:
        if width in _loads:
            return
        thread = threading.Thread(target=_load, args=(width,), name="feedqa-kernel", daemon=True)
        _loads[width] = thread, threading.Event()
    thread.start()


def load(timeout: float | None = None, width: str = DEFAULT) -> ModuleType | None:
    """Load the kernel for scores of `width` (waiting up to `timeout` seconds); None if it is
    not available."""
    start(width)
    _loads[width][1].wait(timeout)
    return get(width)


@atexit.register
def _wait_at_exit() -> None:
    """A compile runs inside LLVM without the GIL: exiting under it runs LLVM's static
    destructors beneath it, and the process aborts after its work is done. So the exit
    waits for this process's own loads (a forked child has no thread of its parent's),
    saying why; a Ctrl-C meanwhile ends the process at once, without those destructors."""
    running = [thread for thread, _ in list(_loads.values()) if thread.is_alive()]
    try:
        for thread in running:
            thread.join(QUIET_WAIT_S)  # a load from numba's cache ends in about a second
        if not any(thread.is_alive() for thread in running):
            return
        with contextlib.suppress(Exception):  # no stderr, or a closed one: wait all the same
            print(
                "feedqa: 正在完成检索内核的首次编译 / finishing the search kernel's first compile…",
                file=sys.stderr,
                flush=True,
            )
        for thread in running:
            thread.join(EXIT_WAIT_S)
    except KeyboardInterrupt:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        os._exit(130)


def _forked() -> None:
    """In a child forked while the kernel loaded: no thread loads it, so start anew."""
    global _lock
    _lock = threading.Lock()
    for width, (_, done) in list(_loads.items()):
        if not done.is_set():
            del _loads[width]


os.register_at_fork(after_in_child=_forked)


def _load(width: str) -> None:
    global _kernel
    try:
        from . import kernel

        kernel.warm(width)
        _kernel = kernel
        _ready.add(width)
    except Exception as exc:  # numba missing, too old or unable to compile: numpy it is
        log.info("compiled top-k unavailable, using numpy: %s", exc)
    finally:
        _loads[width][1].set()
