"""The buttons under an answer: the cited paragraphs (原文) and further results (更多)."""

import asyncio
import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from retrieval import Answer

from .chat import Button
from .format import format_passages, format_sources
from .replies import send_html
from .state import BotState, Shown, bot_state
from .texts import EXPIRED, NO_MORE, TOO_MANY

logger = logging.getLogger(__name__)

MORE_PAGE = 3
"""Results shown per press of "更多"."""


def answer_markup(state: BotState, answer: Answer, query: str) -> InlineKeyboardMarkup | None:
    """The buttons under `answer`; "更多" searches for `query`."""
    if not answer.citations:
        return None
    key = state.buttons.put(Shown(answer, query))
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("原文", callback_data=Button("src", key).data()),
                InlineKeyboardButton("更多", callback_data=Button("more", key, 0).data()),
            ]
        ]
    )


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show the cited paragraphs (原文) or the next results (更多); unknown keys have expired.
    A second press of the same button within a few seconds (a double tap) shows nothing more;
    every other press counts toward the presser's per-minute limit, as a question does."""
    query = update.callback_query
    state = bot_state(context)
    button = Button.parse(query.data)
    shown = state.buttons.get(button.key) if button else None
    message = query.message
    if button is None or shown is None or not isinstance(message, Message):
        await query.answer(EXPIRED)
        return
    # the parsed button, not the raw data: "more:k:00" is the same press as "more:k:0"
    press = (message.chat_id, message.message_id, button.data())
    first = state.presses.first(press)
    if first and not state.limiter.allow(query.from_user.id):  # a press sends a message too
        state.presses.forget(press)
        seconds = state.limiter.retry_after(query.from_user.id)
        limit = state.settings.telegram_questions_per_minute
        await query.answer(TOO_MANY.format(limit=limit, seconds=seconds))
        return
    try:
        await query.answer()  # stops the button's spinner; the content matters more
    except TelegramError as exc:
        logger.warning("answerCallbackQuery failed (%s); sending the content anyway", exc)
    if not first:
        return
    if button.kind == "src":
        parts, markup = format_sources(shown.answer), None
    else:
        parts, markup = await _more(state, button, shown)
    await send_html(message, parts, markup)


async def _more(
    state: BotState, button: Button, shown: Shown
) -> tuple[list[str], InlineKeyboardMarkup | None]:
    answer = shown.answer
    cited = {(c.article_id, c.paragraph) for c in answer.citations}
    wanted = len(cited) + button.offset + MORE_PAGE + 1
    hits = await asyncio.to_thread(state.retriever.search, shown.query, wanted)
    rest = [h for h in hits if (h.article_id, h.paragraph) not in cited]
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
