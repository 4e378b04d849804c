"""The cluster's searchd processes: start (each port checked first), stop and status, and
the Sphinx tools run with their error, not their banner, as the message."""

import fcntl
import os
import re
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from corpus.errors import EngineError

if TYPE_CHECKING:
    from .sphinxconf import Layout


def run_tool(args: Sequence[str]) -> None:
    """Run a Sphinx tool; EngineError with its FATAL or ERROR line (else its last line) if it
    fails: searchd prints its banner after the reason."""
    try:
        done = subprocess.run(args, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise EngineError(f"{args[0]} is not installed (apt-get install sphinxsearch)") from exc
    if done.returncode != 0:
        lines = [_STAMP.sub("", ln.strip()) for ln in (done.stdout + done.stderr).splitlines()]
        lines = [ln for ln in lines if ln]
        errors = [ln for ln in lines if ln.startswith(("FATAL", "ERROR"))]
        said = [ln for ln in lines if not ln.startswith(("Sphinx ", "Copyright"))]
        reason = (errors or said or lines or ["no output"])[-1]
        raise EngineError(f"{' '.join(args[:3])} failed: {reason}")


_STAMP = re.compile(r"^(?:\[[^\]]*\]\s*)+")
"""The `[date] [pid] ` searchd puts before its lines."""


def _pid(folder: Path) -> int | None:
    try:
        return int((folder / "searchd.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def is_running(folder: Path) -> bool:
    """Whether the searchd whose pid file is in `folder` is alive: it holds a lock on that
    file while it runs. A searchd that was killed (SIGKILL, a power cut) leaves its pid file,
    and the pid in it may by now be another program's, so the pid alone says nothing."""
    pid = _pid(folder)
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: the lock says whether it is our searchd
    try:
        with open(folder / "searchd.pid") as f:
            fcntl.lockf(f, fcntl.LOCK_SH | fcntl.LOCK_NB)  # released as it closes
    except FileNotFoundError:
        return False
    except OSError:  # locked (EAGAIN, EACCES): searchd holds it
        return True
    return False


def _folders(layout: "Layout") -> list[Path]:
    return [layout.shard_dir(s) for s in range(layout.shards)] + [layout.root]


def _ports(layout: "Layout") -> list[int]:
    return [*map(layout.shard_port, range(layout.shards)), layout.port]


def start(layout: "Layout", *, wait: float = 10.0) -> None:
    """Start every shard's searchd and the head's (those not running yet). A missing shard
    or a port another program holds is said before any searchd starts."""
    for folder, port in zip(_folders(layout), _ports(layout), strict=True):
        if not (folder / "searchd.conf").exists():
            raise EngineError(f"{folder} is missing: `feedqa cluster init` builds it again")
        if not is_running(folder) and _listening(layout.host, port):
            raise EngineError(
                f"port {port} on {layout.host} is in use by another program: stop it, or "
                "`feedqa cluster init --port …` for other ports"
            )
    for folder, port in zip(_folders(layout), _ports(layout), strict=True):
        if not is_running(folder):
            run_tool(["searchd", "-c", str(folder / "searchd.conf")])
        _wait_port(layout.host, port, wait)


def stop(layout: "Layout") -> None:
    """Stop every searchd of the cluster that runs (waiting until each has exited); one that
    does not (it hangs) is said after the others are stopped."""
    failed = []
    for folder in _folders(layout):
        if is_running(folder):
            try:
                run_tool(["searchd", "-c", str(folder / "searchd.conf"), "--stopwait"])
            except EngineError as exc:  # said failed; what matters is whether it runs
                if not _exits(folder, STOP_GRACE_S):  # (another stop's searchd still exiting)
                    pid = _pid(folder)
                    failed.append(
                        f"searchd in {folder} (pid {pid}) did not exit ({exc}): "
                        f"it hangs? (kill -9 {pid})"
                    )
    if failed:
        raise EngineError("; ".join(failed))


STOP_GRACE_S = 5.0
"""How long a searchd whose stop command failed may take to exit before it is said to hang:
a second stop (two `cluster stop` at once) fails while the first one's searchd exits."""


def _exits(folder: Path, wait: float) -> bool:
    """Whether the searchd of `folder` is stopped, or stops within `wait` seconds."""
    deadline = time.monotonic() + wait
    while is_running(folder):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def _wait_port(host: str, port: int, wait: float) -> None:
    deadline = time.monotonic() + wait
    while not _listening(host, port):
        if time.monotonic() > deadline:
            raise EngineError(f"searchd did not start listening on {host}:{port}")
        time.sleep(0.05)


def status(layout: "Layout") -> list[tuple[str, bool, int | None]]:
    """(name, running, pid) of the head and each shard."""
    names = [f"shard {s}" for s in range(layout.shards)] + ["head"]
    return [(n, is_running(f), _pid(f)) for n, f in zip(names, _folders(layout), strict=True)]
