"""Re-reading the feeds: /reload for admins, and a timer for the feed URLs."""

import asyncio
import html
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from telegram import Update
from telegram.ext import ContextTypes

from corpus import load_feed
from corpus.errors import FeedqaError

from .format import split_message
from .replies import send_html
from .settings import Settings
from .state import BotState, bot_state, is_admin
from .texts import NO_FEEDS, NOT_ADMIN, RELOAD_BUSY

logger = logging.getLogger(__name__)

STOPPING = "未读取:机器人正在停止"
"""A feed's error in the /reload report when the bot began to stop before reading it."""


@dataclass
class FeedResult:
    """What one feed contributed to a refresh."""

    source: str
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    error: str | None = None


async def refresh_feeds(
    state: BotState, sources: list[str], running: Callable[[], bool] = lambda: True
) -> list[FeedResult]:
    """Read each feed (in a thread) and add its articles, one refresh at a time; none is
    started once `running()` is false (the bot stops: each feed may take a fetch deadline)."""
    async with state.refresh_lock:
        return await _read_feeds(state, sources, running)


async def _read_feeds(
    state: BotState, sources: list[str], running: Callable[[], bool] = lambda: True
) -> list[FeedResult]:
    """The work of `refresh_feeds`, its lock held: one feed's error spares the rest."""
    results = []
    for source in sources:
        result = FeedResult(source)
        if not running():
            result.error = STOPPING
            results.append(result)
            continue
        try:
            limits = state.settings.feed_limits()
            articles = await asyncio.to_thread(load_feed, source, **limits)
            reported = len(state.retriever.repairs)
            report = await asyncio.to_thread(state.retriever.add, articles)
            for note in state.retriever.repairs[reported:]:  # another process's work taken up
                logger.warning("Library: %s", note)
            result.added, result.updated = report.added, report.updated
            result.unchanged = report.unchanged
        except FeedqaError as exc:
            result.error = str(exc)
            logger.warning("Feed %s failed: %s", source, exc)
        except Exception as exc:
            result.error = f"意外错误({type(exc).__name__})"
            logger.error("Feed %s failed unexpectedly", source, exc_info=exc)
        results.append(result)
    if any(r.error is None for r in results):
        state.refreshed = datetime.now(UTC)
    return results


async def on_reload(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Admins only: re-read FEEDQA_FEEDS and add new articles while answering goes on."""
    state = bot_state(context)
    message = update.effective_message
    if not is_admin(update, state):
        await message.reply_text(NOT_ADMIN)
        return
    sources = list(state.settings.feedqa_feeds)
    if not sources:
        await message.reply_text(NO_FEEDS)
        return
    if state.refresh_lock.locked():
        await message.reply_text(RELOAD_BUSY)
        return
    async with state.refresh_lock:  # taken before anything awaits: the next /reload is busy
        await message.reply_text(f"正在重新读取 {len(sources)} 个新闻源…")
        results = await _read_feeds(state, sources, _running(context))
    added = sum(r.added for r in results)
    updated = sum(r.updated for r in results)
    lines = [f"更新完成:新增 {added} 篇,更新 {updated} 篇。"]
    for r in results:
        if r.error:
            lines.append(f"✗ {r.source}:{r.error}")
        else:
            lines.append(f"✓ {r.source}:新增 {r.added},更新 {r.updated},未变 {r.unchanged}")
    # one line a feed: split into as many messages as the report needs
    await send_html(message, split_message([html.escape("\n".join(lines), quote=False)]))


async def refresh_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Fetch the feed URLs again and add new articles; errors are logged, never raised."""
    state = bot_state(context)
    urls = feed_urls(state.settings)
    running = _running(context)
    if not running():  # the timer fired while the bot stops
        return
    try:
        results = await refresh_feeds(state, urls, running)
    except Exception:
        logger.exception("Scheduled feed refresh failed")
        return
    added = sum(r.added for r in results)
    updated = sum(r.updated for r in results)
    failed = sum(r.error not in (None, STOPPING) for r in results)
    logger.info("Feed refresh: %d added, %d updated, %d feeds failed", added, updated, failed)


def _running(context: ContextTypes.DEFAULT_TYPE) -> Callable[[], bool]:
    """Whether the bot still runs: false once it began to stop (it ran, and runs no more)."""
    state = bot_state(context)
    return lambda: not (state.started and not context.application.running)


def feed_urls(settings: Settings) -> list[str]:
    """The feeds that are http(s) URLs (the ones worth re-fetching on a schedule)."""
    return [f for f in settings.feedqa_feeds if re.match(r"https?://", f, re.IGNORECASE)]
