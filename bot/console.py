"""What the `feedqa` command says on stderr beside its output: how far long work is, and
notes (`say`). Neither ever stops the work: a stderr that cannot be written is left unsaid."""

import contextlib
import sys
import time

import click

PROGRESS_SECONDS = 30.0
"""In a pipe or a log, long work shows a line at least this often (and at every tenth)."""


class Progress:
    """How far long work is, on stderr: "embedding sentences: 40% (24,000 of 60,000)".

    Redrawn in place on a terminal; in a pipe or a log, a line at every tenth and at least
    every PROGRESS_SECONDS, so a long ingest is never silent.
    """

    def __init__(self) -> None:
        self._shown: dict[str, tuple[int, float]] = {}  # what -> (last tenth, when)

    def __call__(self, what: str, done: int, total: int) -> None:
        percent = 100 * done // max(total, 1)
        line = f"{what}: {percent}% ({done:,} of {total:,})"
        finished = done >= total
        if stderr_is_terminal():
            say(f"\r{line}", nl=finished)
            return
        tenth, when = self._shown.get(what, (-1, 0.0))
        now = time.monotonic()
        if finished or percent // 10 > tenth or now - when >= PROGRESS_SECONDS:
            say(line)
            self._shown[what] = (percent // 10, now)
        if finished:
            self._shown.pop(what, None)


def say(message: str, nl: bool = True) -> None:
    """Say `message` on stderr if it can be written: a stderr that fails (`2>/dev/full`, a full
    log disk, fd 2 left read-only by a shell script's `2>&-`) stops no work."""
    with contextlib.suppress(OSError):
        click.echo(message, err=True, nl=nl)


def stderr_is_terminal() -> bool:
    """Whether stderr is a terminal; not when it is closed (`2>&-`: sys.stderr is None)."""
    return sys.stderr is not None and sys.stderr.isatty()
