"""Per-chat state of the Telegram bot: follow-up history, question limits, button cache.

Pure and in memory; all state is lost on restart (buttons then answer as expired).
The clock is injectable so the time rules can be tested without waiting.
"""

import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")
Clock = Callable[[], float]


SWEEP_AT = 10_000
"""Entries a table of recent users or chats keeps before it looks for the stale ones."""


class Sweeper:
    """When a table of recent entries is swept of its stale ones: past SWEEP_AT entries, and
    then only once they have doubled (with that many live ones, a sweep at every call would
    cost each call the whole table, and find nothing)."""

    def __init__(self) -> None:
        self.at = SWEEP_AT

    def sweep(self, entries: dict, stale: Callable[[Any], bool]) -> dict:
        """`entries`, or a new table without the stale ones when a sweep is due."""
        if len(entries) <= self.at:
            return entries
        kept = {key: value for key, value in entries.items() if not stale(value)}
        self.at = max(SWEEP_AT, 2 * len(kept))
        return kept


class ChatHistory:
    """The last `turns` questions of each chat (or of each user in a group chat: the key is
    any hashable), forgotten after `ttl` seconds of silence. Each question is remembered
    with the message it came in, so an edit replaces it and a retry does not add it twice."""

    def __init__(self, turns: int, ttl: float, clock: Clock = time.monotonic) -> None:
        self.turns = max(turns, 0)
        self.ttl = ttl
        self._clock = clock
        self._chats: dict[Hashable, tuple[float, list[tuple[int, str]]]] = {}
        self._sweeper = Sweeper()

    def recent(self, chat_id: Hashable, before: int | None = None) -> list[str]:
        """The chat's remembered questions, oldest first ([] if none or expired); with
        `before`, only those of earlier messages (an edited question's own history)."""
        entry = self._chats.get(chat_id)
        if entry is None:
            return []
        last, questions = entry
        if self._clock() - last > self.ttl:
            del self._chats[chat_id]
            return []
        return [q for message, q in questions if before is None or message < before]

    def remember(self, chat_id: Hashable, question: str, message_id: int = 0) -> None:
        """Add the question of message `message_id` to the chat's history (keeping only the
        last `turns`), or replace it if that message is remembered (it was edited)."""
        if self.turns == 0:
            return
        now = self._clock()
        entry = self._chats.get(chat_id)
        questions = entry[1] if entry and now - entry[0] <= self.ttl else []
        kept = [(m, q) for m, q in questions if not (message_id and m == message_id)]
        kept.append((message_id, question))
        if message_id:  # in the order the messages were sent: an edit keeps its place
            kept.sort(key=lambda entry: entry[0])
        self._chats[chat_id] = (now, kept[-self.turns :])
        self._chats = self._sweeper.sweep(self._chats, lambda entry: now - entry[0] > self.ttl)

    def forget(self, chat_id: Hashable) -> bool:
        """Drop the chat's history; True if there was any."""
        return self._chats.pop(chat_id, None) is not None


class QuestionLimiter:
    """At most `per_minute` questions per user in any sliding 60-second window."""

    window = 60.0

    def __init__(self, per_minute: int, clock: Clock = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._seen: dict[int, deque[float]] = {}
        self._noticed: dict[tuple[int, int | None], float] = {}
        self._sweepers = Sweeper(), Sweeper()

    def allow(self, user_id: int) -> bool:
        """Count one question for the user; False (and not counted) if over the limit."""
        if self.per_minute <= 0:
            return True
        now = self._clock()
        times = self._seen.setdefault(user_id, deque())
        while times and now - times[0] >= self.window:
            times.popleft()
        if len(times) >= self.per_minute:
            return False
        times.append(now)
        self._seen = self._sweepers[0].sweep(
            self._seen, lambda times: not times or now - times[-1] >= self.window
        )
        return True

    def notice_due(self, user_id: int, chat_id: int | None = None) -> bool:
        """Whether a refused user should be told in the chat (once per window and chat, not
        once per message)."""
        now = self._clock()
        last = self._noticed.get((user_id, chat_id))
        if last is not None and now - last < self.window:
            return False
        self._noticed[user_id, chat_id] = now
        self._noticed = self._sweepers[1].sweep(self._noticed, lambda t: now - t >= self.window)
        return True

    def retry_after(self, user_id: int) -> int:
        """Whole seconds until the user may ask again."""
        times = self._seen.get(user_id)
        if not times:
            return 0
        return max(1, int(self.window - (self._clock() - times[0]) + 0.999))


class Presses:
    """Button presses seen in the last `window` seconds, so that a double tap counts once."""

    def __init__(self, window: float = 5.0, clock: Clock = time.monotonic) -> None:
        self.window = window
        self._clock = clock
        self._seen: dict[Hashable, float] = {}
        self._sweeper = Sweeper()

    def first(self, press: Hashable) -> bool:
        """Whether `press` is new, or its last time was over `window` seconds ago."""
        now = self._clock()
        self._seen = self._sweeper.sweep(self._seen, lambda t: now - t > self.window)
        last = self._seen.get(press)
        self._seen[press] = now
        return last is None or now - last > self.window

    def forget(self, press: Hashable) -> None:
        """Take `press` back (it was refused: pressed again, it is no double tap)."""
        self._seen.pop(press, None)


class ButtonCache(Generic[T]):
    """What the buttons under an answer refer to, kept under short random keys.

    Keys are 8 URL-safe characters, so ``more:<key>:<offset>`` stays far below
    Telegram's 64-byte limit on callback data. The oldest entries are evicted first.
    """

    def __init__(self, max_entries: int = 5000) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, T] = OrderedDict()

    def put(self, value: T) -> str:
        """Store `value`; return its key."""
        key = secrets.token_urlsafe(6)
        while key in self._entries:
            key = secrets.token_urlsafe(6)
        self._entries[key] = value
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return key

    def get(self, key: str) -> T | None:
        """The stored value, or None if unknown or evicted."""
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def __len__(self) -> int:
        return len(self._entries)


class Threads:
    """The questions behind each answer the bot sent, by (chat id, message id), so a reply to
    an answer follows up on that answer's question. The oldest are forgotten first."""

    def __init__(self, max_entries: int = 20_000) -> None:
        self.max_entries = max_entries
        self._questions: OrderedDict[tuple[int, int], tuple[str, ...]] = OrderedDict()

    def remember(self, chat_id: int, message_ids: list[int], questions: list[str]) -> None:
        """Record that these messages answer the last of `questions` (earlier ones its context)."""
        for message_id in message_ids:
            self._questions[(chat_id, message_id)] = tuple(questions)
        while len(self._questions) > self.max_entries:
            self._questions.popitem(last=False)

    def questions(self, chat_id: int, message_id: int) -> list[str] | None:
        """The questions behind an answer, oldest first; None if the message is not known."""
        found = self._questions.get((chat_id, message_id))
        return list(found) if found is not None else None


MAX_OFFSET = 10_000
"""The furthest "更多" pages (a larger offset in callback data is forged)."""


@dataclass(frozen=True)
class Button:
    """A parsed callback_data: which button, for which cached answer, from which offset."""

    kind: str
    key: str
    offset: int = 0

    def data(self) -> str:
        """The callback_data string (at most 64 bytes)."""
        return (
            f"{self.kind}:{self.key}:{self.offset}"
            if self.kind == "more"
            else f"{self.kind}:{self.key}"
        )

    @classmethod
    def parse(cls, data: str | None) -> "Button | None":
        """Parse callback_data; None if it is not one of ours."""
        parts = (data or "").split(":")
        if len(parts) == 2 and parts[0] == "src" and parts[1]:
            return cls("src", parts[1])
        offset = parts[2] if len(parts) == 3 and parts[0] == "more" and parts[1] else ""
        if offset.isascii() and offset.isdigit() and int(offset) <= MAX_OFFSET:
            return cls("more", parts[1], int(offset))
        return None


@dataclass
class Usage:
    """Counters for /stats."""

    started: float = field(default_factory=time.time)
    answered: int = 0
    abstained: int = 0
    chats: set[int] = field(default_factory=set)

    def count(self, chat_id: int | None, answered: bool) -> None:
        """Count one question (asked in a chat, or inline when `chat_id` is None)."""
        if chat_id is not None:
            self.chats.add(chat_id)
        if answered:
            self.answered += 1
        else:
            self.abstained += 1
