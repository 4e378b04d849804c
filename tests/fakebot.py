"""A fake Telegram Bot API server over real HTTP on 127.0.0.1, for end-to-end tests.

It speaks the Bot API's URL shape (``POST /bot<TOKEN>/<method>``), accepts JSON, form
and multipart bodies, long-polls ``getUpdates``, validates HTML like Telegram does and
records every call. Tests inject updates with the ``push_*`` methods and wait for the
bot's calls with `FakeBotApi.wait_for`.

    with FakeBotApi(token) as api:
        application = build_application(settings_with(api.base_url), retriever)
        ...
        api.push_message(chat_id=1, text="问题")
        call = await api.wait_for(lambda: api.sent_messages(chat_id=1))
"""

import asyncio
import email.parser
import email.policy
import itertools
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

T = TypeVar("T")

MESSAGE_LIMIT = 4096
BOT_ID = 7000001
BOT_USERNAME = "feedqa_test_bot"

# Parameters whose form value is a plain string; every other value is JSON.
_STRING_PARAMS = frozenset(
    {
        "text",
        "query",
        "parse_mode",
        "callback_query_id",
        "inline_query_id",
        "action",
        "next_offset",
        "url",
        "secret_token",
        "language_code",
        "ip_address",
        "caption",
        "inline_message_id",
        "description",
        "short_description",
        "name",
    }
)
_HTML_TAGS = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "a",
        "code",
        "pre",
        "span",
        "tg-spoiler",
        "blockquote",
        "tg-emoji",
    }
)
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY = re.compile(r"&(?:#(?:x([0-9a-fA-F]+)|([0-9]+))|([A-Za-z]+));")
_START_TAG = re.compile(r"([A-Za-z][\w-]*)(.*)", re.DOTALL)
_ATTRIBUTE = re.compile(r"""([\w-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")


class Dropped(Exception):
    """The fake closes the connection without an answer (a dropped connection)."""


class ApiError(Exception):
    """An error reply of the Bot API."""

    def __init__(self, code: int, description: str, parameters: dict | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters  # ResponseParameters: retry_after, migrate_to_chat_id


class EntityError(ValueError):
    """HTML that Telegram would refuse to parse."""


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit Telegram counts in."""
    return len(text.encode("utf-16-le")) // 2


def parse_telegram_html(text: str) -> str:
    """The plain text of a Telegram-HTML message; `EntityError` if Telegram would refuse it."""

    def offset(i: int) -> int:
        return len(text[:i].encode())

    out: list[str] = []
    stack: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "<":
            end = text.find(">", i)
            if end < 0:
                raise EntityError(f"Unclosed start tag at byte offset {offset(i)}")
            inner = text[i + 1 : end]
            if inner.startswith("/"):
                name = inner[1:].strip().lower()
                if not stack:
                    raise EntityError(f'Unexpected end tag "{name}" at byte offset {offset(i)}')
                if stack[-1] != name:
                    raise EntityError(
                        f'Unmatched end tag at byte offset {offset(i)}, expected "</{stack[-1]}>", '
                        f'found "</{name}>"'
                    )
                stack.pop()
            else:
                match = _START_TAG.fullmatch(inner)
                if not match:
                    raise EntityError(f"Unsupported start tag at byte offset {offset(i)}")
                name = match.group(1).lower()
                if name not in _HTML_TAGS:
                    raise EntityError(f'Unsupported start tag "{name}" at byte offset {offset(i)}')
                attrs = {
                    m.group(1).lower(): next(g for g in m.groups()[1:] if g is not None)
                    for m in _ATTRIBUTE.finditer(match.group(2))
                }
                if name == "span" and attrs.get("class") != "tg-spoiler":
                    raise EntityError(
                        f'Tag "span" must have class "tg-spoiler" at byte offset {offset(i)}'
                    )
                stack.append(name)
            i = end + 1
        elif char == "&":
            match = _ENTITY.match(text, i)
            if match and match.group(3) is not None and match.group(3) not in _NAMED_ENTITIES:
                match = None
            if not match:
                raise EntityError(f"Character entity expected at byte offset {offset(i)}")
            if match.group(3) is not None:
                out.append(_NAMED_ENTITIES[match.group(3)])
            else:
                number = int(match.group(1), 16) if match.group(1) else int(match.group(2))
                out.append(chr(number) if 0 < number < 0x110000 else "\ufffd")
            i = match.end()
        else:
            out.append(char)
            i += 1
    if stack:
        raise EntityError(f'Can\'t find end tag corresponding to start tag "{stack[-1]}"')
    return "".join(out)


def _message_text(text: Any, parse_mode: Any) -> str:
    """Validate a message text as sendMessage does; return its plain text."""
    if not isinstance(text, str) or not text.strip():
        raise ApiError(400, "Bad Request: message text is empty")
    if parse_mode is None or parse_mode == "":
        plain = text
    elif str(parse_mode).lower() == "html":
        try:
            plain = parse_telegram_html(text)
        except EntityError as exc:
            raise ApiError(400, f"Bad Request: can't parse entities: {exc}") from None
    elif str(parse_mode).lower() in ("markdown", "markdownv2"):
        plain = text
    else:
        raise ApiError(400, f"Bad Request: unsupported parse_mode {parse_mode}")
    if not plain.strip():
        raise ApiError(400, "Bad Request: message text is empty")
    if utf16_len(plain) > MESSAGE_LIMIT:
        raise ApiError(400, "Bad Request: message is too long")
    return plain


def _check_markup(markup: Any) -> None:
    if markup is None:
        return
    if not isinstance(markup, dict):
        raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    for row in markup.get("inline_keyboard", []):
        for button in row:
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= 64:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
            if not button.get("text"):
                raise ApiError(
                    400, "Bad Request: text buttons are unallowed in the inline keyboard"
                )


@dataclass
class ApiCall:
    """One request the bot made, as the fake saw it."""

    method: str
    params: dict[str, Any]
    at: float
    ok: bool = True
    result: Any = None
    error: str | None = None

    @property
    def text(self) -> str:
        """The text (or message_text) parameter, '' if none."""
        return str(self.params.get("text", ""))

    @property
    def chat_id(self) -> int | None:
        value = self.params.get("chat_id")
        return (
            int(value)
            if isinstance(value, int | str) and str(value).lstrip("-").isdigit()
            else None
        )

    @property
    def reply_to(self) -> int | None:
        """The message_id this message replies to, if any."""
        reply = self.params.get("reply_parameters") or {}
        return reply.get("message_id") if isinstance(reply, dict) else None


@dataclass
class Pushed:
    """An update the test injected."""

    update_id: int
    at: float
    message_id: int | None = None
    chat_id: int | None = None
    callback_query_id: str | None = None
    inline_query_id: str | None = None


@dataclass
class _Failure:
    method: str
    code: int
    description: str
    remaining: int
    when: Callable[[dict[str, Any]], bool] | None = None
    parameters: dict[str, Any] | None = None


@dataclass
class _State:
    updates: list[dict[str, Any]] = field(default_factory=list)
    calls: list[ApiCall] = field(default_factory=list)
    messages: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    chats: dict[int, dict[str, Any]] = field(default_factory=dict)
    failures: list[_Failure] = field(default_factory=list)
    delays: list[_Failure] = field(default_factory=list)  # code: unused; description: seconds
    commands: list[dict[str, Any]] = field(default_factory=list)
    webhook: dict[str, Any] = field(default_factory=dict)


class FakeBotApi:
    """The fake Bot API server; use as a context manager (starts and stops the server)."""

    def __init__(
        self, token: str, *, bot_id: int = BOT_ID, bot_username: str = BOT_USERNAME
    ) -> None:
        self.token = token
        self.bot_user = {
            "id": bot_id,
            "is_bot": True,
            "first_name": "FeedQA",
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": True,
        }
        self._state = _State()
        self._cond = threading.Condition(threading.RLock())
        self._ids = itertools.count(1)
        self._update_ids = itertools.count(1)
        self._closing = False
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> "FakeBotApi":
        """Start serving on 127.0.0.1 on a free port."""
        handler = type("Handler", (_Handler,), {"api": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; pending long polls return at once."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "FakeBotApi":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        """The value for TELEGRAM_API_BASE_URL (the token is appended by the client)."""
        return f"http://127.0.0.1:{self.port}/bot"

    # -- injecting updates -----------------------------------------------------------------

    def _user(self, user_id: int, username: str | None = None) -> dict[str, Any]:
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"}
        if username:
            user["username"] = username
        return user

    def _chat_for(self, chat_id: int, chat_type: str | None = None) -> dict[str, Any]:
        with self._cond:
            chat = self._state.chats.get(chat_id)
            if chat is None or (chat_type and chat["type"] != chat_type):
                kind = chat_type or ("private" if chat_id > 0 else "group")
                chat = {"id": chat_id, "type": kind}
                if kind == "private":
                    chat["first_name"] = f"User{chat_id}"
                else:
                    chat["title"] = f"Group {chat_id}"
                self._state.chats[chat_id] = chat
            return chat

    def push_update(self, update: dict[str, Any]) -> Pushed:
        """Queue a raw update (its update_id is assigned here)."""
        with self._cond:
            update_id = next(self._update_ids)
            update = {"update_id": update_id, **update}
            self._state.updates.append(update)
            self._cond.notify_all()
            return Pushed(update_id=update_id, at=time.monotonic())

    def _push_message_dict(self, message: dict[str, Any]) -> Pushed:
        with self._cond:
            self._state.messages[(message["chat"]["id"], message["message_id"])] = message
            pushed = self.push_update({"message": message})
        pushed.message_id = message["message_id"]
        pushed.chat_id = message["chat"]["id"]
        return pushed

    def _base_message(
        self, chat_id: int, user_id: int | None, chat_type: str | None, reply_to: int | None
    ) -> dict[str, Any]:
        chat = self._chat_for(chat_id, chat_type)
        user_id = user_id if user_id is not None else (chat_id if chat_id > 0 else 1001)
        message: dict[str, Any] = {
            "message_id": next(self._ids),
            "date": int(time.time()),
            "chat": chat,
            "from": self._user(user_id),
        }
        if reply_to is not None:
            with self._cond:
                original = self._state.messages.get((chat_id, reply_to))
            if original is None:
                raise KeyError(f"no message {reply_to} in chat {chat_id}")
            message["reply_to_message"] = original
        return message

    def push_message(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int | None = None,
        chat_type: str | None = None,
        reply_to_bot_message_id: int | None = None,
        entities: list[dict[str, Any]] | None = None,
    ) -> Pushed:
        """Queue a text message; command and @mention entities are added like Telegram does."""
        message = self.text_message(
            chat_id,
            text,
            user_id=user_id,
            chat_type=chat_type,
            reply_to_bot_message_id=reply_to_bot_message_id,
            entities=entities,
        )
        return self._push_message_dict(message)

    def text_message(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int | None = None,
        chat_type: str | None = None,
        reply_to_bot_message_id: int | None = None,
        entities: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """A text message from a user (known to the fake but not queued), as Telegram sends it."""
        message = self._base_message(chat_id, user_id, chat_type, reply_to_bot_message_id)
        message["text"] = text
        if entities is None:
            entities = []
            for match in re.finditer(r"(?:^/[A-Za-z0-9_]+(?:@\w+)?)|(?:@\w{5,32})", text):
                start = utf16_len(text[: match.start()])
                length = utf16_len(match.group(0))
                kind = "bot_command" if match.group(0).startswith("/") else "mention"
                entities.append({"type": kind, "offset": start, "length": length})
        if entities:
            message["entities"] = entities
        with self._cond:
            self._state.messages[(chat_id, message["message_id"])] = message
        return message

    def push_sticker(
        self, chat_id: int, *, user_id: int | None = None, emoji: str = "👍"
    ) -> Pushed:
        """Queue a sticker message."""
        message = self._base_message(chat_id, user_id, None, None)
        message["sticker"] = {
            "file_id": f"sticker{message['message_id']}",
            "file_unique_id": f"u{message['message_id']}",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
        }
        return self._push_message_dict(message)

    def push_photo(self, chat_id: int, *, user_id: int | None = None) -> Pushed:
        """Queue a photo message without caption."""
        message = self._base_message(chat_id, user_id, None, None)
        message["photo"] = [
            {
                "file_id": f"photo{message['message_id']}",
                "file_unique_id": f"p{message['message_id']}",
                "width": 90,
                "height": 90,
            }
        ]
        return self._push_message_dict(message)

    def push_callback(
        self, chat_id: int, message_id: int, data: str, *, user_id: int | None = None
    ) -> Pushed:
        """Queue a button press on one of the bot's messages."""
        with self._cond:
            message = self._state.messages.get((chat_id, message_id))
        if message is None:
            raise KeyError(f"no message {message_id} in chat {chat_id}")
        user_id = user_id if user_id is not None else (chat_id if chat_id > 0 else 1001)
        query_id = f"cq{next(self._ids)}"
        pushed = self.push_update(
            {
                "callback_query": {
                    "id": query_id,
                    "from": self._user(user_id),
                    "message": message,
                    "chat_instance": f"ci{chat_id}",
                    "data": data,
                }
            }
        )
        pushed.callback_query_id = query_id
        pushed.chat_id = chat_id
        return pushed

    def push_inline_query(self, user_id: int, query: str, *, offset: str = "") -> Pushed:
        """Queue an inline query (``@bot query`` typed in any chat)."""
        query_id = f"iq{next(self._ids)}"
        pushed = self.push_update(
            {
                "inline_query": {
                    "id": query_id,
                    "from": self._user(user_id),
                    "query": query,
                    "offset": offset,
                    "chat_type": "sender",
                }
            }
        )
        pushed.inline_query_id = query_id
        return pushed

    # -- steering ------------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        *,
        code: int = 400,
        description: str = "Bad Request",
        count: int = 1,
        when: Callable[[dict[str, Any]], bool] | None = None,
        parameters: dict[str, Any] | None = None,
    ) -> None:
        """Make the next `count` calls of `method` (matching `when`) fail with this error
        (and its `parameters`, as the API sends `retry_after` or `migrate_to_chat_id`)."""
        failure = _Failure(method.lower(), code, description, count, when, parameters)
        with self._cond:
            self._state.failures.append(failure)

    def drop_next(self, method: str, *, count: int = 1) -> None:
        """Make the next `count` calls of `method` end with the connection closed unanswered."""
        self.fail_next(method, code=0, description="dropped", count=count)

    def delay_next(self, method: str, seconds: float, *, count: int = 1) -> None:
        """Make the next `count` calls of `method` wait `seconds` before being served."""
        with self._cond:
            self._state.delays.append(_Failure(method.lower(), 0, str(seconds), count))

    def push_edit(self, chat_id: int, message_id: int, text: str) -> Pushed:
        """Queue an edit of an earlier text message (an ``edited_message`` update)."""
        with self._cond:
            original = self._state.messages.get((chat_id, message_id))
        if original is None:
            raise KeyError(f"no message {message_id} in chat {chat_id}")
        edited = {**original, "text": text, "edit_date": int(time.time())}
        entities = [
            {"type": "mention", "offset": utf16_len(text[: m.start()]), "length": utf16_len(m[0])}
            for m in re.finditer(r"@\w{5,32}", text)
        ]
        edited.pop("entities", None)
        if entities:
            edited["entities"] = entities
        with self._cond:
            self._state.messages[(chat_id, message_id)] = edited
        pushed = self.push_update({"edited_message": edited})
        pushed.message_id, pushed.chat_id = message_id, chat_id
        return pushed

    def reject_next_html(self, count: int = 1) -> None:
        """Make the next `count` HTML sendMessage calls fail as unparsable entities."""
        self.fail_next(
            "sendMessage",
            description="Bad Request: can't parse entities: Unsupported start tag at byte offset 0",
            count=count,
            when=lambda p: str(p.get("parse_mode", "")).lower() == "html",
        )

    # -- inspecting ----------------------------------------------------------------------------

    @property
    def calls(self) -> list[ApiCall]:
        """A snapshot of every call so far, in order."""
        with self._cond:
            return list(self._state.calls)

    def calls_of(self, method: str, *, ok: bool | None = True) -> list[ApiCall]:
        """Calls of one method (successful ones by default)."""
        method = method.lower()
        return [c for c in self.calls if c.method.lower() == method and (ok is None or c.ok == ok)]

    def sent_messages(self, chat_id: int | None = None) -> list[ApiCall]:
        """Messages the bot sent successfully, optionally to one chat."""
        return [c for c in self.calls_of("sendMessage") if chat_id is None or c.chat_id == chat_id]

    def replies_to(self, pushed: Pushed) -> list[ApiCall]:
        """Messages the bot sent in reply to (quoting) an injected message."""
        return [
            c
            for c in self.sent_messages(pushed.chat_id)
            if pushed.message_id is not None and c.reply_to == pushed.message_id
        ]

    def sent_after(self, pushed: Pushed, chat_id: int | None = None) -> list[ApiCall]:
        """Messages sent to a chat after an update was injected."""
        chat = pushed.chat_id if chat_id is None else chat_id
        return [c for c in self.sent_messages(chat) if c.at >= pushed.at]

    def pending_updates(self) -> int:
        """Updates not yet confirmed by the bot."""
        with self._cond:
            return len(self._state.updates)

    @property
    def commands(self) -> list[dict[str, Any]]:
        with self._cond:
            return list(self._state.commands)

    async def wait_for(
        self, predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.01
    ) -> T:
        """Wait (without blocking the event loop) until `predicate()` is truthy; return it."""
        deadline = time.monotonic() + timeout
        while not (result := self._check(predicate, deadline, timeout)):
            await asyncio.sleep(interval)
        return result

    def wait_for_sync(
        self, predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.01
    ) -> T:
        """Blocking variant of `wait_for`, for code without an event loop."""
        deadline = time.monotonic() + timeout
        while not (result := self._check(predicate, deadline, timeout)):
            time.sleep(interval)
        return result

    def _check(self, predicate: Callable[[], T], deadline: float, timeout: float) -> T:
        """`predicate()`, or an AssertionError once `deadline` has passed without it."""
        result = predicate()
        if not result and time.monotonic() > deadline:
            raise AssertionError(f"condition not met in {timeout}s; last calls: {self._tail()}")
        return result

    def _tail(self, n: int = 6) -> list[tuple[str, str, str | None]]:
        return [(c.method, c.text[:80], c.error) for c in self.calls[-n:]]

    # -- the API -------------------------------------------------------------------------------

    def handle(self, token: str, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Serve one request; returns (HTTP status, JSON body)."""
        if token != self.token:
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        self._maybe_delay(method)
        call = ApiCall(method=method, params=params, at=time.monotonic())
        try:
            self._maybe_fail(method, params)
            handler = getattr(self, f"_api_{method.lower()}", None)
            if handler is None:
                raise ApiError(404, "Not Found")
            result = handler(params)
        except Dropped:
            call.ok, call.error, call.at = False, "dropped", time.monotonic()
            self._record(call)
            raise
        except ApiError as exc:
            call.ok, call.error, call.at = False, exc.description, time.monotonic()
            self._record(call)
            body = {"ok": False, "error_code": exc.code, "description": exc.description}
            return exc.code, {**body, "parameters": exc.parameters} if exc.parameters else body
        call.result, call.at = result, time.monotonic()
        self._record(call)
        return 200, {"ok": True, "result": result}

    def _record(self, call: ApiCall) -> None:
        with self._cond:
            self._state.calls.append(call)
            self._cond.notify_all()

    def _maybe_fail(self, method: str, params: dict[str, Any]) -> None:
        with self._cond:
            for failure in self._state.failures:
                if failure.method != method.lower() or failure.remaining <= 0:
                    continue
                if failure.when is not None and not failure.when(params):
                    continue
                failure.remaining -= 1
                if failure.code == 0:
                    raise Dropped
                raise ApiError(failure.code, failure.description, failure.parameters)

    def _maybe_delay(self, method: str) -> None:
        with self._cond:
            delay = next(
                (d for d in self._state.delays if d.method == method.lower() and d.remaining > 0),
                None,
            )
            if delay is not None:
                delay.remaining -= 1
        if delay is not None:
            time.sleep(float(delay.description))

    def _api_getme(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.bot_user

    def _api_getupdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        timeout = float(params.get("timeout") or 0)
        deadline = time.monotonic() + timeout
        with self._cond:
            if self._state.webhook.get("url"):
                raise ApiError(
                    409,
                    "Conflict: can't use getUpdates method while webhook is active; "
                    "use deleteWebhook to delete the webhook first",
                )
            if offset:
                self._state.updates = [u for u in self._state.updates if u["update_id"] >= offset]
            while not self._state.updates and not self._closing:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            return list(self._state.updates[:limit])

    def _api_deletewebhook(self, params: dict[str, Any]) -> bool:
        with self._cond:
            self._state.webhook = {}
            if params.get("drop_pending_updates"):
                self._state.updates = []
        return True

    def _api_setwebhook(self, params: dict[str, Any]) -> bool:
        with self._cond:
            self._state.webhook = dict(params)
        return True

    def _api_getwebhookinfo(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._cond:
            return {
                "url": self._state.webhook.get("url", ""),
                "has_custom_certificate": False,
                "pending_update_count": len(self._state.updates),
            }

    def _api_setmycommands(self, params: dict[str, Any]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise ApiError(400, "Bad Request: commands must be an array")
        for command in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(command.get("command", ""))):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        with self._cond:
            self._state.commands = list(commands)
        return True

    def _api_getmycommands(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        return self.commands

    def _api_deletemycommands(self, params: dict[str, Any]) -> bool:
        with self._cond:
            self._state.commands = []
        return True

    def _api_sendchataction(self, params: dict[str, Any]) -> bool:
        if params.get("chat_id") is None:
            raise ApiError(400, "Bad Request: chat not found")
        if params.get("action") not in (
            "typing",
            "upload_photo",
            "upload_document",
            "find_location",
        ):
            raise ApiError(400, "Bad Request: wrong parameter action in request")
        return True

    def _api_sendmessage(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = params.get("chat_id")
        if not isinstance(chat_id, int):
            raise ApiError(400, "Bad Request: chat not found")
        plain = _message_text(params.get("text"), params.get("parse_mode"))
        _check_markup(params.get("reply_markup"))
        message: dict[str, Any] = {
            "message_id": next(self._ids),
            "date": int(time.time()),
            "chat": self._chat_for(chat_id),
            "from": self.bot_user,
            "text": plain,
        }
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        with self._cond:
            self._state.messages[(chat_id, message["message_id"])] = message
        return message

    def _api_editmessagetext(self, params: dict[str, Any]) -> dict[str, Any] | bool:
        if params.get("inline_message_id"):
            _message_text(params.get("text"), params.get("parse_mode"))
            return True
        key = (params.get("chat_id"), params.get("message_id"))
        plain = _message_text(params.get("text"), params.get("parse_mode"))
        _check_markup(params.get("reply_markup"))
        with self._cond:
            message = self._state.messages.get(key)  # type: ignore[arg-type]
            if message is None or message["from"]["id"] != self.bot_user["id"]:
                raise ApiError(400, "Bad Request: message to edit not found")
            if message["text"] == plain and message.get("reply_markup") == params.get(
                "reply_markup"
            ):
                raise ApiError(
                    400,
                    "Bad Request: message is not modified: specified new message content and "
                    "reply markup are exactly the same as a current content and reply markup "
                    "of the message",
                )
            message = {**message, "text": plain, "edit_date": int(time.time())}
            if params.get("reply_markup"):
                message["reply_markup"] = params["reply_markup"]
            self._state.messages[key] = message  # type: ignore[index]
            return message

    def _api_answercallbackquery(self, params: dict[str, Any]) -> bool:
        if not params.get("callback_query_id"):
            raise ApiError(400, "Bad Request: query is too old and response timeout expired")
        return True

    def _api_answerinlinequery(self, params: dict[str, Any]) -> bool:
        results = params.get("results")
        if not isinstance(results, list) or len(results) > 50:
            raise ApiError(400, "Bad Request: RESULTS_TOO_MUCH")
        seen: set[str] = set()
        for result in results:
            result_id = str(result.get("id", ""))
            if not 1 <= len(result_id.encode()) <= 64:
                raise ApiError(400, "Bad Request: RESULT_ID_INVALID")
            if result_id in seen:
                raise ApiError(400, "Bad Request: RESULT_ID_DUPLICATE")
            seen.add(result_id)
            if not result.get("title"):
                raise ApiError(400, "Bad Request: RESULT_TITLE_EMPTY")
            content = result.get("input_message_content") or {}
            _message_text(content.get("message_text"), content.get("parse_mode"))
        return True

    def _api_close(self, params: dict[str, Any]) -> bool:
        return True

    def _api_logout(self, params: dict[str, Any]) -> bool:
        return True


def _decode_params(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for key, raw in pairs:
        if key in _STRING_PARAMS:
            params[key] = raw
            continue
        try:
            params[key] = json.loads(raw)
        except ValueError:
            params[key] = raw
    return params


class _Handler(BaseHTTPRequestHandler):
    api: FakeBotApi
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Silence the default stderr access log."""

    def handle(self) -> None:
        try:
            super().handle()
        except (ConnectionResetError, BrokenPipeError):  # the client died (a killed bot)
            self.close_connection = True

    def do_GET(self) -> None:
        self._serve(b"")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._serve(self.rfile.read(length) if length else b"")

    def _serve(self, body: bytes) -> None:
        url = urlsplit(self.path)
        match = re.fullmatch(r"/bot([^/]+)/(\w+)", url.path)
        if not match:
            self._reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})
            return
        try:
            params = _decode_params(parse_qsl(url.query, keep_blank_values=True))
            params.update(self._body_params(body))
        except ValueError as exc:
            self._reply(400, {"ok": False, "error_code": 400, "description": f"Bad Request: {exc}"})
            return
        try:
            status, payload = self.api.handle(match.group(1), match.group(2), params)
        except Dropped:
            self.close_connection = True  # closed without a reply
            return
        self._reply(status, payload)

    def _body_params(self, body: bytes) -> dict[str, Any]:
        if not body:
            return {}
        content_type = self.headers.get("Content-Type", "")
        if content_type.startswith("application/json"):
            data = json.loads(body)
            if not isinstance(data, dict):
                raise ValueError("JSON body must be an object")
            return data
        if content_type.startswith("multipart/form-data"):
            message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                f"Content-Type: {content_type}\r\n\r\n".encode() + body
            )
            pairs = []
            for part in message.iter_parts():
                name = part.get_param("name", header="content-disposition")
                payload = part.get_payload(decode=True) or b""
                pairs.append((str(name), payload.decode()))
            return _decode_params(pairs)
        return _decode_params(parse_qsl(body.decode(), keep_blank_values=True))

    def _reply(self, status: int, payload: dict[str, Any]) -> None:
        try:
            data = json.dumps(payload, ensure_ascii=False).encode()
        except UnicodeEncodeError:  # a lone surrogate: sent escaped (\ud800), as JSON allows
            data = json.dumps(payload).encode()
        self.send_response(status, HTTPStatus(status).phrase)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        try:
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (e.g. on stop)
            self.close_connection = True
