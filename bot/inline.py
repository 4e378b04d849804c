"""Inline mode: ``@bot question`` in any chat, answered with results to share."""

import asyncio

from telegram import (
    InlineQueryResultArticle,
    InlineQueryResultsButton,
    InputTextMessageContent,
    Update,
)
from telegram.constants import ParseMode
from telegram.ext import ContextTypes

from retrieval import Passage
from retrieval.text import is_blank

from .format import format_inline_answer, format_inline_passage, truncate
from .handlers import INLINE_CACHE_SECONDS, INLINE_RESULTS
from .replies import NO_PREVIEW
from .state import bot_state
from .texts import INLINE_HINT


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
    state = bot_state(context)
    question = inline.query.strip()
    hint = InlineQueryResultsButton(text=INLINE_HINT, start_parameter="inline")
    if is_blank(question):
        await inline.answer([], cache_time=INLINE_CACHE_SECONDS, button=hint)
        return
    if not state.inline_limiter.allow(inline.from_user.id):
        busy = InlineQueryResultsButton(text="提问太频繁了,请稍后再试", start_parameter="busy")
        await inline.answer([], cache_time=0, is_personal=True, button=busy)
        return
    await asyncio.to_thread(state.retriever.refresh)  # an ingest may have run beside the bot
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
