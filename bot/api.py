"""Talking to the Bot API: timeouts, retries of transient failures, flood control, and
noticing a revoked token."""

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import urlsplit

from telegram.error import BadRequest, NetworkError
from telegram.ext import AIORateLimiter
from telegram.request import HTTPXRequest

from corpus.errors import ConfigError

logger = logging.getLogger(__name__)

JSONDict = dict[str, Any]

RETRY_BACKOFF = 0.5
"""Seconds before the first retry of a failed send; doubled for each further one..."""

MAX_BACKOFF = 30.0
"""... up to this: the 20th retry would otherwise wait three days (and a stop with it)."""

NO_RETRY = frozenset({"answerInlineQuery", "getMe", "deleteWebhook", "setWebhook"})
"""Calls not repeated here: an inline query is stale within seconds, and start-up calls are
retried by the application's own bootstrap loop (TELEGRAM_STARTUP_RETRIES)."""


class FloodLimiter(AIORateLimiter):
    """AIORateLimiter for everything but chat actions, retrying transient failures.

    "typing…" would otherwise take half of the 30 requests/s budget under load; sent
    unthrottled, the worst a flood reply can cost is the indicator itself. A 5xx reply, a
    dropped connection or a timeout is retried `retries` times with exponential backoff
    (429 is honoured by AIORateLimiter itself); a 4xx is not.
    """

    def __init__(self, *args: Any, retries: int = 4, backoff: float = RETRY_BACKOFF, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.retries = retries
        self.backoff = backoff

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | JSONDict | list[JSONDict]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | JSONDict | list[JSONDict]:
        if endpoint == "sendChatAction":
            return await callback(*args, **kwargs)
        attempt = 0
        while True:
            try:
                return await super().process_request(
                    callback, args, kwargs, endpoint, data, rate_limit_args
                )
            except BadRequest:
                raise
            except NetworkError as exc:  # 5xx, a dropped connection, a timeout
                if attempt >= self.retries or endpoint in NO_RETRY:
                    raise
                delay = min(self.backoff * 2**attempt, MAX_BACKOFF)
                attempt += 1
                logger.warning("%s failed (%s); retry %d in %.1fs", endpoint, exc, attempt, delay)
                await asyncio.sleep(delay)


NO_UPDATES = b'{"ok": true, "result": []}'


class ApiRequest(HTTPXRequest):
    """HTTPXRequest that calls `on_unauthorized` when the Bot API answers 401 (the token was
    revoked), so the bot can stop instead of running deaf; it returns whether the bot stops.

    The request for getUpdates then answers "no updates" while the bot stops: raised in the
    polling task, the 401 would abort python-telegram-bot's shutdown half-way."""

    on_unauthorized: Callable[[], bool] | None = None
    on_get_me_failed: Callable[[str], None] | None = None  # told why a getMe failed
    polls: bool = False

    async def do_request(self, url: str, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        get_me = self.on_get_me_failed is not None and url.endswith("/getMe")
        try:
            code, payload = await super().do_request(url, *args, **kwargs)
        except NetworkError as exc:  # unreachable, dropped, timed out (never the URL itself)
            if get_me:
                self.on_get_me_failed(exc.message)  # type: ignore[misc]
            raise
        if get_me and code >= 500:
            self.on_get_me_failed(f"HTTP {code}")  # type: ignore[misc]
        stops = code == 401 and self.on_unauthorized is not None and self.on_unauthorized()
        return (200, NO_UPDATES) if stops and self.polls else (code, payload)


def requests(timeout: float) -> tuple[ApiRequest, ApiRequest]:
    """The request objects for API calls and for getUpdates, with explicit timeouts.

    Long enough that a slow API answers before the bot gives up on a call it will then see
    succeed (an error note followed by the answer).
    """
    connect = min(timeout, 10.0)
    calls = ApiRequest(
        connection_pool_size=256, read_timeout=timeout, write_timeout=timeout,
        connect_timeout=connect, pool_timeout=timeout,
    )  # fmt: skip
    updates = ApiRequest(
        connection_pool_size=1, read_timeout=timeout, write_timeout=timeout,
        connect_timeout=connect, pool_timeout=timeout,
    )  # fmt: skip
    updates.polls = True
    return calls, updates


def check_base_url(url: str) -> None:
    """ConfigError unless `url` can take the token: http(s), a host, and ending in /bot
    (or holding a {token} placeholder)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"TELEGRAM_API_BASE_URL must be an http(s) URL, not {url!r}")
    if not url.endswith("/bot") and "{token}" not in url:
        raise ConfigError(
            f"TELEGRAM_API_BASE_URL must end with /bot (the token is appended to it), e.g. "
            f"{parts.scheme}://{parts.netloc}/bot; it is {url!r}"
        )
