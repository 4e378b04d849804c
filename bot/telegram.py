"""The Telegram bot: answers questions about the news archive with cited extracts.

`build_application` wires handlers around a `Retriever`; `run_bot` opens the user's
library and runs the bot by long polling or by webhook. All answering is done by the
Retriever (in a worker thread, so the event loop never blocks); this module only
routes updates, keeps per-chat state and sends formatted replies.
"""

import asyncio
import logging
import re
import secrets
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InlineQueryResultsButton,
    InputTextMessageContent,
    LinkPreviewOptions,
    Message,
    MessageEntity,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatAction, ChatType, ParseMode
from telegram.error import BadRequest, InvalidToken, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    BaseRateLimiter,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    InlineQueryHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from corpus import load_feed
from corpus.errors import ConfigError, FeedqaError
from retrieval import Answer, Passage, Retriever

from .chat import Button, ButtonCache, ChatHistory, QuestionLimiter, Usage
from .format import (
    format_answer,
    format_inline_answer,
    format_inline_passage,
    format_passages,
    format_sources,
    to_plain,
    truncate,
)
from .redact import protect_secrets
from .settings import Settings

logger = logging.getLogger(__name__)

JSONDict = dict[str, Any]

MAX_QUESTION_CHARS = 4000
"""Longer questions get a polite refusal."""
CITATIONS = 3
"""Citations under an answer."""
MORE_PAGE = 3
"""Results shown per press of "更多"."""
INLINE_RESULTS = 5
INLINE_CACHE_SECONDS = 10
ALLOWED_UPDATES = ["message", "callback_query", "inline_query"]
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
STATE_KEY = "feedqa"

COMMANDS = [
    BotCommand("ask", "提问(群组中使用):/ask 问题"),
    BotCommand("help", "使用说明"),
    BotCommand("reset", "忘记之前的问题,重新开始"),
    BotCommand("about", "资料库的规模与更新时间"),
    BotCommand("start", "介绍与示例问题"),
]

HELP_TEXT = (
    "用法:\n"
    "• 私聊:直接发送问题,例如「星河支付的CEO是谁?」\n"
    "• 追问:可以接着问「他什么时候上任的?」,我会参考你最近的几个问题;/reset 忘记上下文。\n"
    "• 群组:/ask 问题,或回复我的消息,或 @我 并写上问题。\n"
    "• 任意聊天:输入 @{username} 问题,把答案分享给别人。\n"
    "• 答案下的「原文」显示被引用的整段原文,「更多」显示更多相关段落。\n"
    "/about 查看资料库的规模与更新时间。\n\n"
    "答案都摘自资料库中的文章,并注明出处;资料库中没有的,我会直说。"
)
NOT_TEXT = "我只能回答文字问题。请直接用文字发送你的问题,/help 查看用法。"
UNKNOWN_COMMAND = "不认识这个命令。/help 查看用法。"
EMPTY_QUESTION = "请在 /ask 后面写上问题,例如:/ask 星河支付的CEO是谁?"
TOO_LONG = "问题太长了(最多 {limit} 个字符),请缩短后再问。"
TOO_MANY = "提问太频繁了:每分钟最多 {limit} 个问题,请 {seconds} 秒后再试。"
EXPIRED = "这个按钮已过期,请重新提问。"
NO_MORE = "没有更多相关的段落了。"
RESET_DONE = "好的,之前的问题已经忘记了。"
ERROR_TEXT = "抱歉,处理这条消息时出错了,请稍后再试。"
NOT_ADMIN = "抱歉,这个命令只对管理员开放。"
NOT_ALLOWED = "抱歉,这个机器人只在指定的聊天中使用。"
RELOAD_BUSY = "资料库正在更新,请稍后再试。"
NO_FEEDS = "没有配置新闻源(FEEDQA_FEEDS)。"
INLINE_HINT = "输入一个问题,例如:星河支付的CEO是谁?"


# --- shared state ---------------------------------------------------------------------------


@dataclass
class FeedResult:
    """What one feed contributed to a refresh."""

    source: str
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    error: str | None = None


@dataclass
class BotState:
    """Everything the handlers share, kept in ``application.bot_data``."""

    settings: Settings
    retriever: Retriever
    history: ChatHistory
    limiter: QuestionLimiter
    buttons: ButtonCache[Answer] = field(default_factory=ButtonCache)
    usage: Usage = field(default_factory=Usage)
    refresh_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    refreshed: datetime | None = None


def _state(context: ContextTypes.DEFAULT_TYPE) -> BotState:
    return context.bot_data[STATE_KEY]


def _is_admin(update: Update, state: BotState) -> bool:
    user = update.effective_user
    return user is not None and user.id in state.settings.telegram_admin_ids


# --- sending ----------------------------------------------------------------------------------


class FloodLimiter(AIORateLimiter):
    """AIORateLimiter for everything but chat actions.

    "typing…" would otherwise take half of the 30 requests/s budget under load; sent
    unthrottled, the worst a flood reply can cost is the indicator itself.
    """

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
        return await super().process_request(
            callback, args, kwargs, endpoint, data, rate_limit_args
        )


def _quoting(message: Message) -> ReplyParameters:
    """Reply parameters quoting `message` (still sent if it was deleted meanwhile)."""
    return ReplyParameters(message_id=message.message_id, allow_sending_without_reply=True)


async def _note(message: Message, text: str) -> None:
    """A short plain-text reply quoting the message it is about."""
    await message.reply_text(text, reply_parameters=_quoting(message))


async def _send_html(
    message: Message,
    parts: list[str],
    markup: InlineKeyboardMarkup | None = None,
) -> list[Message]:
    """Send HTML parts as replies to `message` (the first quotes it; the last gets `markup`).

    If Telegram cannot parse a part's HTML, the same content is sent as plain text.
    """
    sent = []
    bot = message.get_bot()
    thread = message.message_thread_id if message.is_topic_message else None
    for i, part in enumerate(parts):
        options = {
            "chat_id": message.chat_id,
            "message_thread_id": thread,
            "reply_parameters": _quoting(message) if i == 0 else None,
            "reply_markup": markup if i == len(parts) - 1 else None,
            "link_preview_options": NO_PREVIEW,
        }
        try:
            sent.append(await bot.send_message(text=part, parse_mode=ParseMode.HTML, **options))
        except BadRequest as exc:
            if "can't parse entities" not in exc.message.lower():
                raise
            logger.warning("Telegram refused the HTML of a reply (%s); sending plain text", exc)
            sent.append(await bot.send_message(text=to_plain(part), **options))
    return sent


async def _typing(message: Message) -> None:
    """Show "typing…" in the chat; failures only cost the indicator."""
    thread = message.message_thread_id if message.is_topic_message else None
    try:
        await message.get_bot().send_chat_action(
            message.chat_id, ChatAction.TYPING, message_thread_id=thread
        )
    except TelegramError as exc:
        logger.debug("sendChatAction failed: %s", exc)


def _answer_markup(state: BotState, answer: Answer) -> InlineKeyboardMarkup | None:
    if not answer.citations:
        return None
    key = state.buttons.put(answer)
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("原文", callback_data=Button("src", key).data()),
                InlineKeyboardButton("更多", callback_data=Button("more", key, 0).data()),
            ]
        ]
    )


async def _answer_question(
    update: Update, context: ContextTypes.DEFAULT_TYPE, question: str
) -> None:
    """Answer one question in the update's chat, with history, limits and buttons."""
    message = update.effective_message
    if message is None:
        return
    state = _state(context)
    question = question.strip()
    if not question:
        await _note(message, EMPTY_QUESTION)
        return
    if len(question) > MAX_QUESTION_CHARS:
        await _note(message, TOO_LONG.format(limit=MAX_QUESTION_CHARS))
        return
    user = update.effective_user
    if user is not None and not state.limiter.allow(user.id):
        seconds = state.limiter.retry_after(user.id)
        limit = state.settings.telegram_questions_per_minute
        await _note(message, TOO_MANY.format(limit=limit, seconds=seconds))
        return
    await _typing(message)
    chat_id = message.chat_id
    history = state.history.recent(chat_id)
    answer = await asyncio.to_thread(state.retriever.ask, question, history or None, CITATIONS)
    state.history.remember(chat_id, question)
    state.usage.count(chat_id, answer.answered)
    await _send_html(message, format_answer(answer), _answer_markup(state, answer))


def _addressed_question(message: Message, bot_id: int, username: str) -> str | None:
    """The question in a group message meant for the bot, or None if it is chatter."""
    text = message.text or ""
    mention = f"@{username}".lower()
    mentioned = any(
        value.lower() == mention
        for value in message.parse_entities([MessageEntity.MENTION]).values()
    )
    replied = message.reply_to_message
    to_bot = (
        replied is not None and replied.from_user is not None and replied.from_user.id == bot_id
    )
    if not (mentioned or to_bot):
        return None
    return _without_mention(text, username)


def _without_mention(text: str, username: str) -> str:
    return re.sub(rf"@{re.escape(username)}\b", " ", text, flags=re.IGNORECASE).strip()


def _sent_via_me(message: Message, bot_id: int) -> bool:
    """True for a message the user posted through the bot's own inline mode."""
    return message.via_bot is not None and message.via_bot.id == bot_id


# --- handlers -----------------------------------------------------------------------------------


async def guard_allowed_chats(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stop updates from chats outside TELEGRAM_ALLOWED_CHAT_IDS (when that list is set)."""
    state = _state(context)
    allowed = state.settings.telegram_allowed_chat_ids
    if not allowed or _is_admin(update, state):
        return
    chat, user = update.effective_chat, update.effective_user
    where = chat.id if chat is not None else (user.id if user is not None else None)
    if where in allowed:
        return
    if update.callback_query is not None:
        await update.callback_query.answer(NOT_ALLOWED)
    elif update.inline_query is not None:
        await update.inline_query.answer([], cache_time=INLINE_CACHE_SECONDS, is_personal=True)
    elif chat is not None and chat.type == ChatType.PRIVATE and update.effective_message:
        await update.effective_message.reply_text(NOT_ALLOWED)
    raise ApplicationHandlerStop


async def on_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Say what the bot is and suggest three questions drawn from the archive."""
    examples = await asyncio.to_thread(_state(context).retriever.example_questions, 3)
    lines = [
        "你好!我是新闻问答机器人:向我提问,我从新闻资料库中摘出答案,并注明出处(文章、日期、段落)。",
    ]
    if examples:
        lines += ["", "可以试试这些问题:", *(f"• {q}" for q in examples)]
    lines += ["", "/help 查看用法,/about 查看资料库。"]
    await update.effective_message.reply_text("\n".join(lines))


async def on_help(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Explain how to ask, follow up, use groups, inline mode and the buttons."""
    await update.effective_message.reply_text(HELP_TEXT.format(username=context.bot.username))


async def on_ask(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer ``/ask question`` (or ``/ask`` in reply to a message holding the question)."""
    message = update.effective_message
    parts = (message.text or "").split(maxsplit=1)
    question = parts[1] if len(parts) > 1 else ""
    replied = message.reply_to_message
    if not question.strip() and replied is not None and replied.text:
        question = replied.text
    await _answer_question(update, context, question)


async def on_reset(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Forget the chat's earlier questions."""
    _state(context).history.forget(update.effective_chat.id)
    await update.effective_message.reply_text(RESET_DONE)


def _day(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d") if value else "未知"


async def on_about(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Report the archive's size, date range and last refresh."""
    state = _state(context)
    info = await asyncio.to_thread(state.retriever.info)
    refreshed = (
        state.refreshed.astimezone().strftime("%Y-%m-%d %H:%M")
        if state.refreshed
        else "启动以来尚未更新"
    )
    await update.effective_message.reply_text(
        "新闻问答机器人:答案摘自资料库中的文章,并注明出处。\n"
        f"资料库:{info['articles']} 篇文章,{info['paragraphs']} 段\n"
        f"时间范围:{_day(info.get('first'))} 至 {_day(info.get('last'))}\n"
        f"最近更新:{refreshed}"
    )


async def on_stats(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Admins only: questions answered, abstentions, chats, uptime and index size."""
    state = _state(context)
    if not _is_admin(update, state):
        await update.effective_message.reply_text(NOT_ADMIN)
        return
    info = await asyncio.to_thread(state.retriever.info)
    uptime = int(time.time() - state.usage.started)
    hours, rest = divmod(uptime, 3600)
    await update.effective_message.reply_text(
        f"已回答:{state.usage.answered}\n"
        f"未找到答案:{state.usage.abstained}\n"
        f"聊天数:{len(state.usage.chats)}\n"
        f"运行时间:{hours} 小时 {rest // 60} 分 {rest % 60} 秒\n"
        f"索引:{info['articles']} 篇文章,{info['paragraphs']} 段"
    )


async def refresh_feeds(state: BotState, sources: list[str]) -> list[FeedResult]:
    """Read each feed (in a thread) and add its articles; one feed's error spares the rest."""
    results = []
    async with state.refresh_lock:
        for source in sources:
            result = FeedResult(source)
            try:
                articles = await asyncio.to_thread(load_feed, source)
                report = await asyncio.to_thread(state.retriever.add, articles)
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
    state = _state(context)
    message = update.effective_message
    if not _is_admin(update, state):
        await message.reply_text(NOT_ADMIN)
        return
    sources = list(state.settings.feedqa_feeds)
    if not sources:
        await message.reply_text(NO_FEEDS)
        return
    if state.refresh_lock.locked():
        await message.reply_text(RELOAD_BUSY)
        return
    await message.reply_text(f"正在重新读取 {len(sources)} 个新闻源…")
    results = await refresh_feeds(state, sources)
    added = sum(r.added for r in results)
    updated = sum(r.updated for r in results)
    lines = [f"更新完成:新增 {added} 篇,更新 {updated} 篇。"]
    for r in results:
        if r.error:
            lines.append(f"✗ {r.source}:{r.error}")
        else:
            lines.append(f"✓ {r.source}:新增 {r.added},更新 {r.updated},未变 {r.unchanged}")
    await message.reply_text("\n".join(lines), link_preview_options=NO_PREVIEW)


async def refresh_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Fetch the feed URLs again and add new articles; errors are logged, never raised."""
    state = _state(context)
    urls = feed_urls(state.settings)
    try:
        results = await refresh_feeds(state, urls)
    except Exception:
        logger.exception("Scheduled feed refresh failed")
        return
    added = sum(r.added for r in results)
    updated = sum(r.updated for r in results)
    failed = sum(r.error is not None for r in results)
    logger.info("Feed refresh: %d added, %d updated, %d feeds failed", added, updated, failed)


async def on_private_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """In a private chat every text message is a question (except answers shared inline)."""
    message = update.effective_message
    if _sent_via_me(message, context.bot.id):
        return
    await _answer_question(
        update, context, _without_mention(message.text or "", context.bot.username)
    )


async def on_group_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """In a group, answer replies to the bot and messages mentioning it; ignore chatter."""
    message = update.effective_message
    if _sent_via_me(message, context.bot.id):
        return
    question = _addressed_question(message, context.bot.id, context.bot.username)
    if question is not None:
        await _answer_question(update, context, question)


async def on_not_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stickers, photos, voice and files get a hint to ask in words."""
    await update.effective_message.reply_text(NOT_TEXT)


async def on_unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Point to /help for commands the bot does not know."""
    await update.effective_message.reply_text(UNKNOWN_COMMAND)


async def _more(
    state: BotState, button: Button, answer: Answer
) -> tuple[list[str], InlineKeyboardMarkup | None]:
    shown = {(c.article_id, c.paragraph) for c in answer.citations}
    wanted = len(shown) + button.offset + MORE_PAGE + 1
    hits = await asyncio.to_thread(state.retriever.search, answer.question, wanted)
    rest = [h for h in hits if (h.article_id, h.paragraph) not in shown]
    page = rest[button.offset : button.offset + MORE_PAGE]
    if not page:
        return [NO_MORE], None
    start_rank = len(answer.citations) + button.offset + 1
    parts = format_passages(page, start_rank, answer.terms)
    markup = None
    if len(rest) > button.offset + MORE_PAGE:
        data = Button("more", button.key, button.offset + MORE_PAGE).data()
        markup = InlineKeyboardMarkup([[InlineKeyboardButton("更多", callback_data=data)]])
    return parts, markup


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show the cited paragraphs (原文) or the next results (更多); unknown keys have expired."""
    query = update.callback_query
    state = _state(context)
    button = Button.parse(query.data)
    answer = state.buttons.get(button.key) if button else None
    message = query.message
    if button is None or answer is None or not isinstance(message, Message):
        await query.answer(EXPIRED)
        return
    await query.answer()
    if button.kind == "src":
        parts, markup = format_sources(answer), None
    else:
        parts, markup = await _more(state, button, answer)
    await _send_html(message, parts, markup)


def _inline_article(
    result_id: str, title: str, description: str, text: str
) -> InlineQueryResultArticle:
    return InlineQueryResultArticle(
        id=result_id,
        title=truncate(title, 64) or "—",
        description=truncate(description, 120),
        input_message_content=InputTextMessageContent(
            text, parse_mode=ParseMode.HTML, link_preview_options=NO_PREVIEW
        ),
    )


async def on_inline_query(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer ``@bot question`` with the answer and the other cited paragraphs."""
    inline = update.inline_query
    state = _state(context)
    question = inline.query.strip()
    hint = InlineQueryResultsButton(text=INLINE_HINT, start_parameter="inline")
    if not question:
        await inline.answer([], cache_time=INLINE_CACHE_SECONDS, button=hint)
        return
    if not state.limiter.allow(inline.from_user.id):
        busy = InlineQueryResultsButton(text="提问太频繁了,请稍后再试", start_parameter="busy")
        await inline.answer([], cache_time=0, is_personal=True, button=busy)
        return
    answer = await asyncio.to_thread(state.retriever.ask, question, None, INLINE_RESULTS)
    state.usage.count(None, answer.answered)
    results = []
    if answer.answered:
        source = answer.citations[0].title if answer.citations else ""
        results.append(_inline_article("0", answer.text, source, format_inline_answer(answer)))
    else:
        title = "资料库中没有找到答案"
        results.append(
            _inline_article("0", title, "以下是最接近的文章", format_inline_answer(answer))
        )
    for c in answer.citations[1 if answer.answered else 0 :]:
        passage = Passage(
            article_id=c.article_id,
            title=c.title,
            link=c.link,
            published=c.published,
            paragraph=c.paragraph,
            text=truncate(c.passage, 800),
            score=c.score,
        )
        description = f"{c.title} · 第{c.paragraph}段"
        text = format_inline_passage(passage, c.rank)
        results.append(_inline_article(str(c.rank), c.passage, description, text))
    await inline.answer(results, cache_time=INLINE_CACHE_SECONDS)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the failure and tell the user something went wrong; the bot keeps running."""
    update_id = update.update_id if isinstance(update, Update) else None
    logger.error("Update %s failed", update_id, exc_info=context.error)
    if not isinstance(update, Update):
        return
    try:
        if update.callback_query is not None:
            await update.callback_query.answer(ERROR_TEXT)
        elif update.effective_message is not None and update.effective_chat is not None:
            await _note(update.effective_message, ERROR_TEXT)
    except TelegramError as exc:
        logger.warning("Could not report the error to the chat: %s", exc)


async def _post_init(application: Application) -> None:
    """Register the command menu once the bot is known to Telegram."""
    try:
        await application.bot.set_my_commands(COMMANDS)
    except TelegramError as exc:
        logger.warning("setMyCommands failed: %s", exc)
    logger.info("Bot @%s is ready", application.bot.username)


# --- wiring ---------------------------------------------------------------------------------------


def _token(settings: Settings) -> str:
    token = (
        settings.telegram_bot_token.get_secret_value().strip()
        if settings.telegram_bot_token
        else ""
    )
    if not token:
        raise ConfigError(
            "TELEGRAM_BOT_TOKEN is not set: create a bot with @BotFather and put its token in "
            ".env (TELEGRAM_BOT_TOKEN=123456:ABC...) or in the environment."
        )
    return token


def feed_urls(settings: Settings) -> list[str]:
    """The feeds that are http(s) URLs (the ones worth re-fetching on a schedule)."""
    return [f for f in settings.feedqa_feeds if re.match(r"https?://", f, re.IGNORECASE)]


def build_application(
    settings: Settings,
    retriever: Retriever,
    *,
    rate_limiter: BaseRateLimiter | None = None,
) -> Application:
    """The bot's Application: handlers, shared state, flood control and the refresh job."""
    token = _token(settings)
    webhook_secret = (
        settings.telegram_webhook_secret.get_secret_value()
        if settings.telegram_webhook_secret
        else ""
    )
    protect_secrets(token, webhook_secret)
    application = (
        ApplicationBuilder()
        .token(token)
        .base_url(settings.telegram_api_base_url)
        .base_file_url(_file_url(settings.telegram_api_base_url))
        .rate_limiter(rate_limiter or FloodLimiter(max_retries=3))
        .concurrent_updates(True)
        .post_init(_post_init)
        .build()
    )
    application.bot_data[STATE_KEY] = BotState(
        settings=settings,
        retriever=retriever,
        history=ChatHistory(
            settings.feedqa_history_turns, settings.feedqa_history_ttl_minutes * 60
        ),
        limiter=QuestionLimiter(settings.telegram_questions_per_minute),
    )
    new = filters.UpdateType.MESSAGE
    private = filters.ChatType.PRIVATE & new
    groups = filters.ChatType.GROUPS & new
    application.add_handler(TypeHandler(Update, guard_allowed_chats), group=-1)
    application.add_handlers(
        [
            CommandHandler("start", on_start, filters=new),
            CommandHandler("help", on_help, filters=new),
            CommandHandler("ask", on_ask, filters=new),
            CommandHandler("reset", on_reset, filters=new),
            CommandHandler("about", on_about, filters=new),
            CommandHandler("reload", on_reload, filters=new),
            CommandHandler("stats", on_stats, filters=new),
            MessageHandler(private & filters.TEXT & ~filters.COMMAND, on_private_text),
            MessageHandler(groups & filters.TEXT & ~filters.COMMAND, on_group_text),
            MessageHandler(private & filters.COMMAND, on_unknown_command),
            MessageHandler(private & ~filters.TEXT & ~filters.StatusUpdate.ALL, on_not_text),
            CallbackQueryHandler(on_button),
            InlineQueryHandler(on_inline_query),
        ]
    )
    application.add_error_handler(on_error)
    urls = feed_urls(settings)
    if urls and settings.feedqa_refresh_minutes > 0 and application.job_queue is not None:
        interval = settings.feedqa_refresh_minutes * 60
        application.job_queue.run_repeating(
            refresh_job, interval=interval, first=10, name="refresh"
        )
    return application


def _file_url(base_url: str) -> str:
    """The file-download base matching a Bot API base URL (``…/bot`` → ``…/file/bot``)."""
    if base_url.endswith("/bot"):
        return f"{base_url[: -len('/bot')]}/file/bot"
    return base_url


def webhook_options(settings: Settings) -> dict[str, str | int]:
    """The arguments of ``run_webhook``/``start_webhook`` taken from the settings.

    Without TELEGRAM_WEBHOOK_SECRET a random secret is used for this run, so that only
    Telegram (which is told the secret by setWebhook) can post updates.
    """
    url = settings.telegram_webhook_url
    if not url:
        raise ConfigError(
            "TELEGRAM_WEBHOOK_URL is not set: webhook mode needs the public https URL "
            "Telegram should post updates to."
        )
    if settings.telegram_webhook_secret:
        secret = settings.telegram_webhook_secret.get_secret_value()
    else:
        secret = secrets.token_urlsafe(32)
        logger.warning("TELEGRAM_WEBHOOK_SECRET is not set; using a random secret for this run")
    protect_secrets(secret)
    return {
        "listen": settings.telegram_webhook_listen,
        "port": settings.telegram_webhook_port,
        "url_path": urlsplit(url).path.lstrip("/"),
        "webhook_url": url,
        "secret_token": secret,
    }


def run_bot(
    settings: Settings, *, webhook: bool = False, retriever: Retriever | None = None
) -> None:
    """Run the bot until interrupted: long polling, or a webhook server with ``webhook=True``.

    Opens the user's library (building it from the bundled corpus if needed) unless a
    retriever is given. Raises ConfigError for a missing or rejected token or a missing
    webhook URL.
    """
    _token(settings)
    options = webhook_options(settings) if webhook else None
    if not logging.getLogger().handlers:
        logging.basicConfig(
            format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO
        )
    if retriever is None:
        try:
            retriever = Retriever.open(
                settings.index_dir, min_confidence=settings.feedqa_min_confidence
            )
        except OSError as exc:
            raise ConfigError(f"cannot open the library at {settings.index_dir}: {exc}") from exc
    application = build_application(settings, retriever)
    try:
        if options is not None:
            logger.info(
                "Starting the webhook server on %s:%s for %s",
                options["listen"],
                options["port"],
                options["webhook_url"],
            )
            application.run_webhook(**options, allowed_updates=ALLOWED_UPDATES)  # type: ignore[arg-type]
        else:
            logger.info("Starting the bot with long polling")
            application.run_polling(allowed_updates=ALLOWED_UPDATES)
    except InvalidToken:
        raise ConfigError(
            "TELEGRAM_BOT_TOKEN was rejected by Telegram: check the token @BotFather gave you."
        ) from None
