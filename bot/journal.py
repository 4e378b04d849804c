"""A small on-disk journal of the updates the bot accepted, so none is lost to a crash.

An update is written (and fsynced) when it is put on the update queue: before Telegram is
told it arrived (by the next getUpdates offset, or the webhook's 200 reply), since Telegram
never sends it again after that. It is marked done once handled. At start-up, the updates
the journal holds but never marked done are handled first; one that was already tried
`MAX_TRIES` times (it may be what crashed the bot) is dropped with a warning. A message
whose answer an outage of the Bot API stopped stays pending and is handled again later.
"""

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

from telegram import Update
from telegram.error import BadRequest, NetworkError, RetryAfter
from telegram.ext import Application, SimpleUpdateProcessor

from corpus.errors import ConfigError
from retrieval.storage import replacing

logger = logging.getLogger(__name__)

MAX_TRIES = 3
"""Start-ups at which one update is handled before it is given up."""

_REMEMBERED = 10_000  # update ids kept to drop a redelivered update

JOURNAL_KEY = "feedqa-journal"
"""Where the application keeps its journal (in `bot_data`)."""

RETRY_SECONDS = 30.0
"""A message whose answer could not be sent (the Bot API down past the send retries) is
handled again this much later, up to RETRY_TIMES times."""
RETRY_TIMES = 10
COMPACT_AFTER = 1000
"""Handled updates after which the journal is rewritten with the pending ones alone."""
RETRIES_KEPT = 3600.0
"""Seconds an update's retry count is kept after its last retry (far longer than a retry
and its sends take): counts are not kept for every message an outage ever stopped."""


class JournalInUseError(ConfigError):
    """Another process (a second `feedqa telegram` on the data folder) has the journal."""


class UpdateJournal:
    """The journal file: accepted updates, the ids handled, and the ids retried at start-up."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._pending: dict[int, dict[str, Any]] = {}
        self._seen: OrderedDict[int, None] = OrderedDict()
        self._fd: int | None = None
        self._done_since_compaction = 0
        self._tries: dict[int, int] = {}  # start-ups at which a pending update was handled
        self._retrying: set[int] = set()
        self._failing = False  # a write failed (a full disk): said once, until one succeeds
        self._lock_fd: int | None = None
        self._torn = False  # the last write was cut short: the file ends inside a line

    @property
    def lock_path(self) -> Path:
        """The file whose lock says which process has the journal."""
        return self.path.with_name(self.path.stem + ".lock")

    def lock(self) -> None:
        """Take the journal for this process until `close`; JournalInUseError if another
        has it. Two bots on one journal rewrote it under each other: one's questions went to
        a deleted file (lost at its next crash) and the other answered them a second time."""
        if self._lock_fd is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise JournalInUseError(
                f"another `feedqa telegram` is running on {self.path.parent} (it holds "
                f"{self.lock_path.name}): stop it first, or give each bot its own "
                "FEEDQA_DATA_DIR"
            ) from None
        self._lock_fd = fd

    def open(self) -> list[dict[str, Any]]:
        """Read the journal and return the updates accepted but not handled, oldest first.

        The file is rewritten with only those (a torn last line is skipped). The journal is
        locked first (`lock`).
        """
        self.lock()
        accepted: dict[int, dict[str, Any]] = {}
        tries: dict[int, int] = {}
        done: set[int] = set()
        with contextlib.suppress(FileNotFoundError), open(self.path, "rb") as f:
            for raw in f:
                try:
                    entry = json.loads(raw)
                except ValueError:
                    continue
                if not isinstance(entry, dict):  # no line this journal writes
                    continue
                update = entry.get("update")
                if isinstance(update, dict) and isinstance(update.get("update_id"), int):
                    accepted[update["update_id"]] = update
                elif isinstance(entry.get("tried"), int):
                    tries[entry["tried"]] = tries.get(entry["tried"], 0) + 1
                elif isinstance(entry.get("done"), int):
                    done.add(entry["done"])
        pending = []
        for update_id in sorted(set(accepted) - done):
            if tries.get(update_id, 0) >= MAX_TRIES:
                logger.warning("Update %s failed at %d start-ups; dropped", update_id, MAX_TRIES)
                continue
            pending.append(accepted[update_id])
            tries[update_id] = tries.get(update_id, 0) + 1
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tries = {u["update_id"]: tries[u["update_id"]] for u in pending}
        self._pending = {u["update_id"]: u for u in pending}
        self._rewrite()
        for update_id in self._pending:
            self._seen[update_id] = None
        return pending

    def _rewrite(self) -> None:
        """Replace the file with the pending updates and their start-up tries alone, then
        append to it through a descriptor of the new file taken before it is put in place:
        one opened by name after (which can fail) left the journal on the file replaced."""
        lines = [{"update": u} for u in self._pending.values()]
        lines += [{"tried": i} for i in self._pending for _ in range(self._tries.get(i, 0))]
        fd = None
        try:  # users' messages: readable by the bot's owner only
            with replacing(self.path, mode=0o600) as f:
                f.write(b"".join(_line(entry) for entry in lines))
                fd = os.dup(f.fileno())
                fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_APPEND)
        except BaseException:
            if fd is not None:
                os.close(fd)
            raise
        if self._fd is not None:
            os.close(self._fd)
        self._fd, self._torn = fd, False

    def accept(self, update: dict[str, Any]) -> bool:
        """Write an update durably before it is acknowledged; False if it was seen before."""
        update_id = update["update_id"]
        if update_id in self._seen:
            return False
        self._write({"update": update}, sync=True)
        self._pending[update_id] = update
        self._seen[update_id] = None
        while len(self._seen) > _REMEMBERED:
            self._seen.popitem(last=False)
        return True

    def retry_later(self, update_id: int) -> None:
        """Keep an update pending when its handling ends now: it is handled again later."""
        self._retrying.add(update_id)

    def done(self, update_id: int) -> None:
        """Mark an update handled (not fsynced: a crash now at worst answers it twice)."""
        if update_id in self._retrying:
            self._retrying.discard(update_id)
            return
        if self._pending.pop(update_id, None) is None:
            return
        try:
            self._write({"done": update_id}, sync=False)
        except OSError as exc:  # a full disk: at worst answered again at the next start
            self.failed(exc)
            return
        self._done_since_compaction += 1
        if self._done_since_compaction >= COMPACT_AFTER and self._fd is not None:
            self._done_since_compaction = 0
            try:  # the handled updates are not needed: only those pending are kept
                self._rewrite()
            except OSError as exc:  # a full disk: the file as it was, appended to
                self.failed(exc)

    @property
    def pending(self) -> int:
        """Updates accepted and not yet handled."""
        return len(self._pending)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # and the lock with it
            self._lock_fd = None

    def failed(self, exc: OSError) -> None:
        """Say that the journal cannot be written, once until a write succeeds again (a full
        disk would otherwise log a line for every message, onto that disk)."""
        if not self._failing:
            self._failing = True
            logger.error(
                "Cannot write the journal %s (%s): answering goes on, but messages accepted "
                "until it can be written are not kept across a restart",
                self.path,
                exc.strerror or exc,
            )

    def _write(self, entry: dict[str, Any], *, sync: bool) -> None:
        if self._fd is None:
            raise RuntimeError("the journal is not open")
        # a full disk writes what fits (a short write) before it fails: the cut line stays
        # unread, and the next entry starts a line of its own instead of being glued to it
        data = b"\n" * self._torn + _line(entry)
        written = 0
        try:
            while written < len(data):
                written += os.write(self._fd, data[written:])
        except OSError:
            self._torn = self._torn or written > 0
            raise
        self._torn = False
        if sync:
            os.fsync(self._fd)
        if self._failing:
            self._failing = False
            logger.info("The journal %s can be written again", self.path)


def _line(entry: dict[str, Any]) -> bytes:
    """One journal line: ASCII JSON, so any string, lone surrogates included, is written."""
    return json.dumps(entry, default=str).encode("ascii") + b"\n"


class JournaledQueue(asyncio.Queue):
    """The update queue: an update is journaled as it is put (before it is acknowledged),
    and one the journal already holds (a redelivery) is dropped."""

    def __init__(self, journal: UpdateJournal) -> None:
        super().__init__()
        self.journal = journal

    def put_nowait(self, item: object) -> None:
        if isinstance(item, Update):
            try:
                if not self.journal.accept(item.to_dict()):
                    return
            except OSError as exc:  # a full disk: answering goes on, without the journal
                self.journal.failed(exc)
        super().put_nowait(item)

    def replay(self, item: Update) -> None:
        """Queue an update the journal holds already (read back at start-up)."""
        super().put_nowait(item)


class JournaledProcessor(SimpleUpdateProcessor):
    """Handles updates concurrently and marks each done in the journal once handled."""

    def __init__(self, journal: UpdateJournal, max_concurrent_updates: int = 256) -> None:
        super().__init__(max_concurrent_updates)
        self.journal = journal

    async def do_process_update(self, update: object, coroutine: Any) -> None:
        cancelled = False
        try:
            await coroutine
        except asyncio.CancelledError:  # shut down mid-answer: answered at the next start
            cancelled = True
            raise
        finally:
            if isinstance(update, Update) and not cancelled:
                self.journal.done(update.update_id)


RETRIES_KEY = "feedqa-retries"
"""Where `retry_later` counts each update's retries (and when it last retried it), in
``application.bot_data``."""


def is_retry(application: Application, update: Update) -> bool:
    """Whether `update` is being handled again by `retry_later`."""
    return update.update_id in application.bot_data.get(RETRIES_KEY, {})


def retry_later(application: Application, update: Update, error: object) -> bool:
    """Handle a message again RETRY_SECONDS from now if `error` is a send that failed for
    good (an outage that outlasted the retries), at most RETRY_TIMES times; whether it will
    be. The journal keeps it pending meanwhile, so a restart answers it too."""
    outage = isinstance(error, NetworkError) and not isinstance(error, BadRequest)
    if not (outage or isinstance(error, RetryAfter)):  # a 429 that outlasted its retries too
        return False
    if update.effective_message is None or update.callback_query or update.inline_query:
        return False  # a button press or an inline query is stale long before
    retries: dict[int, tuple[int, float]] = application.bot_data.setdefault(RETRIES_KEY, {})
    now = time.monotonic()
    while retries:  # in the order of their last retry: the oldest first
        oldest = next(iter(retries))
        if now - retries[oldest][1] <= RETRIES_KEPT:
            break
        del retries[oldest]
    tries = retries.pop(update.update_id, (0, now))[0]
    if tries >= RETRY_TIMES:
        return False
    retries[update.update_id] = (tries + 1, now)
    journal = application.bot_data.get(JOURNAL_KEY)
    if journal is not None:
        journal.retry_later(update.update_id)
    queue = application.update_queue
    put = queue.replay if isinstance(queue, JournaledQueue) else queue.put_nowait
    asyncio.get_running_loop().call_later(RETRY_SECONDS, put, update)
    return True
