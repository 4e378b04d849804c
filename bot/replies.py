"""Sending replies: quoting the question, HTML with a plain-text fallback, "typing…"."""

import logging
from typing import Any

from telegram import Bot, InlineKeyboardMarkup, LinkPreviewOptions, Message, ReplyParameters
from telegram.constants import ChatAction, ParseMode
from telegram.error import BadRequest, ChatMigrated, TelegramError

from .format import to_plain

logger = logging.getLogger(__name__)

NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


def quoting(message: Message) -> ReplyParameters:
    """Reply parameters quoting `message` (still sent if it was deleted meanwhile)."""
    return ReplyParameters(message_id=message.message_id, allow_sending_without_reply=True)


async def note(message: Message, text: str) -> None:
    """A short plain-text reply quoting the message it is about (in the supergroup a group
    became meanwhile, if it did)."""
    try:
        await message.reply_text(text, reply_parameters=quoting(message))
    except ChatMigrated as exc:
        await message.get_bot().send_message(exc.new_chat_id, text)


async def send_html(
    message: Message,
    parts: list[str],
    markup: InlineKeyboardMarkup | None = None,
) -> list[Message]:
    """Send HTML parts as replies to `message` (the first quotes it; the last gets `markup`).

    If Telegram cannot parse a part's HTML, the same content is sent as plain text.
    """
    sent = []
    bot = message.get_bot()
    chat_id = message.chat_id
    thread = message.message_thread_id if message.is_topic_message else None
    for i, part in enumerate(parts):
        options = {
            "message_thread_id": thread,
            "reply_parameters": quoting(message) if i == 0 else None,
            "reply_markup": markup if i == len(parts) - 1 else None,
            "link_preview_options": NO_PREVIEW,
        }
        try:
            sent.append(await _send_html_part(bot, chat_id, part, options))
        except ChatMigrated as exc:  # the group became a supergroup: answer there
            logger.info("Chat %s became %s; answering there", chat_id, exc.new_chat_id)
            chat_id, thread = exc.new_chat_id, None
            options.update(message_thread_id=None, reply_parameters=None)
            sent.append(await _send_html_part(bot, chat_id, part, options))
    return sent


async def _send_html_part(bot: Bot, chat_id: int, part: str, options: dict[str, Any]) -> Message:
    """One HTML part; if Telegram cannot parse its HTML, the same content as plain text."""
    try:
        return await bot.send_message(chat_id, part, parse_mode=ParseMode.HTML, **options)
    except BadRequest as exc:
        if "can't parse entities" not in exc.message.lower():
            raise
        logger.warning("Telegram refused the HTML of a reply (%s); sending plain text", exc)
        return await bot.send_message(chat_id, to_plain(part), **options)


async def show_typing(message: Message) -> None:
    """Show "typing…" in the chat; failures only cost the indicator."""
    thread = message.message_thread_id if message.is_topic_message else None
    try:
        await message.get_bot().send_chat_action(
            message.chat_id, ChatAction.TYPING, message_thread_id=thread
        )
    except TelegramError as exc:
        logger.debug("sendChatAction failed: %s", exc)
