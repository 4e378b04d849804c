# ruff: noqa: F811  (pytest fixtures imported from test_telegram)
"""The Telegram bot as a chat user meets it: supergroups, outages and 429s, quick follow-ups,
deleted commands, captions, edits and buttons, against the fake Bot API (127.0.0.1 only)."""

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from fakebot import BOT_USERNAME, FakeBotApi
from telegram.ext import Application
from test_telegram import (  # noqa: F401  (fixtures)
    ALICE,
    ANSWER_CEO,
    BOB,
    GROUP,
    app,
    buttons,
    fake,
    make_settings,
    next_message,
    no_token_in_logs,
    plain,
    reply,
    retriever,
    running,
    settings,
)

from bot.handlers import _turn
from bot.telegram import build_application
from bot.texts import ERROR_TEXT, NOT_TEXT
from retrieval import Retriever


def reply_target_deleted(params: dict[str, Any]) -> bool:
    """The user's message was deleted before the bot replied (e.g. a group's anti-spam bot
    deletes every command): Telegram then refuses a reply unless told to send it anyway."""
    reply_parameters = params.get("reply_parameters")
    return isinstance(reply_parameters, dict) and not reply_parameters.get(
        "allow_sending_without_reply"
    )


async def test_a_429_on_an_answer_is_waited_out_and_the_answer_sent_once(
    fake: FakeBotApi, app: Application
) -> None:
    fake.fail_next(
        "sendMessage", code=429, description="Too Many Requests: retry after 1",
        parameters={"retry_after": 1},
    )  # fmt: skip
    pushed = fake.push_message(ALICE, "星河支付的CEO是谁?")
    assert plain(await reply(fake, pushed, timeout=10)).startswith(ANSWER_CEO)
    await asyncio.sleep(0.3)
    assert [plain(c) for c in fake.sent_messages(ALICE)] == [plain(fake.replies_to(pushed)[0])]


async def test_an_answer_reaches_a_group_upgraded_to_a_supergroup(
    fake: FakeBotApi, app: Application
) -> None:
    supergroup = -1001234567
    fake.fail_next(
        "sendMessage",
        code=400,
        description="Bad Request: group chat was upgraded to a supergroup chat",
        parameters={"migrate_to_chat_id": supergroup},
        count=100,
        when=lambda params: params.get("chat_id") == GROUP,
    )  # fmt: skip  (the old group's id is refused from now on)
    pushed = fake.push_message(GROUP, "/ask 星河支付的CEO是谁?", user_id=ALICE)
    calls = await fake.wait_for(lambda: fake.sent_messages(supergroup), timeout=5)
    assert plain(calls[0]).startswith(ANSWER_CEO)
    assert pushed


async def test_a_quick_follow_up_keeps_the_question_before_it(
    fake: FakeBotApi, app: Application, asked_histories: list
) -> None:
    first = fake.push_message(ALICE, "月光银行的CEO是谁?")
    second = fake.push_message(ALICE, "它的总部在哪里?")
    await reply(fake, first)
    await reply(fake, second)
    assert asked_histories == [None, ["月光银行的CEO是谁?"]]


async def test_a_woken_follow_up_keeps_its_turn_after_many_users() -> None:
    """Past 10,000 histories the turns not locked were forgotten, among them one whose
    follow-up was woken but had not run yet: the next question of that chat took a new turn
    and was answered beside the follow-up, not after it."""
    state = SimpleNamespace(turns={})
    for user in range(10_000):  # a bot that has answered many users
        async with _turn(state, 10**9 + user):
            pass
    answering: list[str] = []
    tasks: list[asyncio.Task] = []

    async def question(name: str, then: bool = False) -> None:
        async with _turn(state, ALICE):
            answering.append(name)
            await asyncio.sleep(0.01)
            assert answering == [name], f"answered at once: {answering}"
            answering.remove(name)
        if then:  # at once: a new user asks, then Alice's third question comes
            async with _turn(state, BOB):
                tasks.append(asyncio.create_task(question("third")))

    first = asyncio.create_task(question("first", then=True))
    await asyncio.sleep(0)
    second = asyncio.create_task(question("second"))  # a quick follow-up waits its turn
    await asyncio.gather(first, second)
    await asyncio.gather(*tasks)
    assert state.turns == {}  # nothing kept for chats with no question under way


async def test_an_edited_question_replaces_the_original_in_the_history(
    fake: FakeBotApi, app: Application, asked_histories: list
) -> None:
    asked = fake.push_message(ALICE, "星河支付的CEO是谁?")
    await reply(fake, asked)
    edited = fake.push_edit(ALICE, asked.message_id, "月光银行的CEO是谁?")
    await fake.wait_for(lambda: fake.sent_after(edited))
    assert asked_histories[-1] is None  # the edit is asked anew, not as a follow-up of itself
    follow = fake.push_message(ALICE, "它的总部在哪里?")
    await reply(fake, follow)
    assert asked_histories[-1] == ["月光银行的CEO是谁?"]


async def test_a_question_sent_as_a_caption_is_answered(fake: FakeBotApi, app: Application) -> None:
    message = fake._base_message(ALICE, None, None, None)  # noqa: SLF001
    message["photo"] = [{"file_id": "p", "file_unique_id": "p", "width": 90, "height": 90}]
    message["caption"] = "星河支付的CEO是谁?"
    pushed = fake._push_message_dict(message)  # noqa: SLF001
    text = plain(await next_message(fake, pushed))
    assert text != NOT_TEXT


@pytest.mark.parametrize(
    ("label", "again", "shown"),
    [
        ("原文", "", "第1段"),
        ("更多", "0", "[4]"),  # "more:KEY:00" is "more:KEY:0" (the same page), not a new press
    ],
)
async def test_a_double_tap_on_a_button_sends_its_content_once(
    fake: FakeBotApi, app: Application, label: str, again: str, shown: str
) -> None:
    answer = await reply(fake, fake.push_message(ALICE, "星河支付的CEO是谁?"))
    data = buttons(answer)[label]
    first = fake.push_callback(ALICE, answer.result["message_id"], data)
    fake.push_callback(ALICE, answer.result["message_id"], data + again)
    await next_message(fake, first, shown)
    await asyncio.sleep(0.5)
    assert len([c for c in fake.sent_after(first) if shown in plain(c)]) == 1


async def test_a_lone_surrogate_in_a_group_question_is_no_error(
    fake: FakeBotApi, app: Application
) -> None:
    """Any string is a question, in a group too, where the bot looks for its @mention."""
    question = f"@{BOT_USERNAME} 星河支付的CEO是谁?\ud800"
    pushed = fake.push_message(GROUP, question, user_id=ALICE)
    text = plain(await reply(fake, pushed))
    assert text != ERROR_TEXT and text.startswith(ANSWER_CEO), text


@pytest.mark.parametrize("command", ["/help", "/start", "/reset", "/about"])
async def test_a_command_deleted_before_the_reply_still_gets_it(
    fake: FakeBotApi, app: Application, command: str
) -> None:
    fake.fail_next(
        "sendMessage", description="Bad Request: message to be replied not found",
        when=reply_target_deleted,
    )  # fmt: skip
    pushed = fake.push_message(GROUP, f"{command}@{BOT_USERNAME}", user_id=ALICE)
    call = await next_message(fake, pushed)
    assert plain(call) != ERROR_TEXT


async def test_an_answer_retried_after_an_outage_is_not_refused_as_flooding(
    fake: FakeBotApi, tmp_path, retriever: Retriever, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.journal

    monkeypatch.setattr(bot.journal, "RETRY_SECONDS", 0.3)
    settings = make_settings(
        fake, tmp_path, telegram_send_retries=0, telegram_questions_per_minute=1
    )
    fake.fail_next("sendMessage", code=502, description="Bad Gateway")  # a short outage
    async with running(build_application(settings, retriever)):
        pushed = fake.push_message(ALICE, "星河支付的CEO是谁?")  # her only question
        call = await fake.wait_for(lambda: fake.sent_messages(ALICE), timeout=5)
    assert plain(call[0]).startswith(ANSWER_CEO), plain(call[0])
    assert pushed


async def test_an_answer_retried_after_an_outage_is_not_remembered_twice(
    fake: FakeBotApi,
    tmp_path,
    retriever: Retriever,
    monkeypatch: pytest.MonkeyPatch,
    asked_histories: list,
) -> None:
    import bot.journal

    monkeypatch.setattr(bot.journal, "RETRY_SECONDS", 0.3)
    settings = make_settings(fake, tmp_path, telegram_send_retries=0)
    fake.fail_next("sendMessage", code=502, description="Bad Gateway")
    async with running(build_application(settings, retriever)):
        await reply(fake, fake.push_message(ALICE, "星河支付的CEO是谁?"))
        await reply(fake, fake.push_message(ALICE, "她什么时候加入公司的?"))
    assert asked_histories[-1] == ["星河支付的CEO是谁?"]


async def test_reset_right_after_a_question_forgets_it(
    fake: FakeBotApi, app: Application, asked_histories: list
) -> None:
    asked = fake.push_message(ALICE, "月光银行的CEO是谁?")
    reset = fake.push_message(ALICE, "/reset")
    await reply(fake, asked)
    await next_message(fake, reset, "忘记")
    await reply(fake, fake.push_message(ALICE, "它的总部在哪里?"))
    assert asked_histories[-1] is None


async def test_a_sustained_429_loses_no_answer(
    fake: FakeBotApi, app: Application, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.journal

    monkeypatch.setattr(bot.journal, "RETRY_SECONDS", 0.3)  # 30 s in production
    fake.fail_next(
        "sendMessage", code=429, description="Too Many Requests: retry after 1",
        parameters={"retry_after": 1}, count=4,
    )  # fmt: skip
    pushed = fake.push_message(ALICE, "星河支付的CEO是谁?")
    calls = await fake.wait_for(lambda: fake.sent_messages(ALICE), timeout=15)
    assert plain(calls[0]).startswith(ANSWER_CEO), plain(calls[0])
    assert pushed


async def test_an_empty_private_message_is_not_told_to_use_ask(
    fake: FakeBotApi, app: Application
) -> None:
    pushed = fake.push_message(ALICE, "\u200b")
    text = plain(await reply(fake, pushed))
    assert "/ask" not in text, text  # no /ask is needed in a private chat


async def more_searches(
    fake: FakeBotApi, retriever: Retriever, monkeypatch: pytest.MonkeyPatch, *questions: str
) -> list[str]:
    """What the retriever searched for when 更多 was pressed under the last of `questions`."""
    searched: list[str] = []
    real_search = retriever.search
    monkeypatch.setattr(retriever, "search", lambda q, k=5: searched.append(q) or real_search(q, k))
    for question in questions:
        last = await reply(fake, fake.push_message(ALICE, question))
    pressed = fake.push_callback(ALICE, last.result["message_id"], buttons(last)["更多"])
    await fake.wait_for(lambda: fake.sent_after(pressed))
    return searched


async def test_more_under_a_follow_up_searches_with_its_context(
    fake: FakeBotApi, app: Application, retriever: Retriever, monkeypatch: pytest.MonkeyPatch
) -> None:
    searched = await more_searches(
        fake, retriever, monkeypatch, "月光银行的CEO是谁?", "它成立于哪一年?"
    )
    assert searched and "月光银行" in searched[-1], searched


async def test_a_user_who_blocked_the_bot_is_not_sent_an_error_note(
    fake: FakeBotApi, app: Application
) -> None:
    fake.fail_next(
        "sendMessage", code=403, description="Forbidden: bot was blocked by the user", count=5
    )
    fake.push_message(ALICE, "星河支付的CEO是谁?")
    await fake.wait_for(lambda: fake.calls_of("sendMessage", ok=False))
    await asyncio.sleep(0.5)
    assert len(fake.calls_of("sendMessage", ok=None)) == 1  # no note to a chat that is gone


async def test_more_under_a_question_of_its_own_searches_that_question(
    fake: FakeBotApi, app: Application, retriever: Retriever, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not a follow-up: its 更多 does not search the earlier question's subject too."""
    searched = await more_searches(
        fake, retriever, monkeypatch, "月光银行的CEO是谁?", "星河支付的CEO是谁?"
    )
    assert searched and "月光银行" not in searched[-1], searched


async def test_an_edit_of_a_question_no_longer_remembered_does_not_become_the_latest(
    fake: FakeBotApi, app: Application, asked_histories: list
) -> None:
    """Three turns remembered. After four questions the first one is edited: the next
    follow-up still leans on the last question, not on the edit."""
    first = fake.push_message(ALICE, "星河支付的CEO是谁?")
    await reply(fake, first)
    for q in ["星河支付总部在哪里?", "星河支付的融资是多少?", "月光银行的CEO是谁?"]:
        await reply(fake, fake.push_message(ALICE, q))
    edited = fake.push_edit(ALICE, first.message_id, "星河支付的前任CEO是谁?")
    await fake.wait_for(lambda: fake.sent_after(edited))
    await reply(fake, fake.push_message(ALICE, "它的总部在哪里?"))
    assert asked_histories[-1][-1] == "月光银行的CEO是谁?", asked_histories[-1]


async def test_a_retry_after_an_edit_does_not_bring_back_the_old_question(
    fake: FakeBotApi,
    tmp_path,
    retriever: Retriever,
    monkeypatch: pytest.MonkeyPatch,
    asked_histories: list,
) -> None:
    """The answer fails to send (an outage) and is retried later; meanwhile the user edits
    the question and gets its answer. The retry does not put the old text back."""
    import bot.journal

    monkeypatch.setattr(bot.journal, "RETRY_SECONDS", 1.5)
    settings = make_settings(fake, tmp_path, telegram_send_retries=0)
    fake.fail_next("sendMessage", code=502, description="Bad Gateway")
    async with running(build_application(settings, retriever)):
        asked = fake.push_message(ALICE, "星河支付的CEO是谁?")
        await fake.wait_for(lambda: fake.calls_of("sendMessage", ok=False))
        edited = fake.push_edit(ALICE, asked.message_id, "月光银行的CEO是谁?")
        await fake.wait_for(lambda: fake.sent_after(edited))
        await asyncio.sleep(3)  # the retry of the original update has run
        await reply(fake, fake.push_message(ALICE, "它的总部在哪里?"))
    assert asked_histories[-1] == ["月光银行的CEO是谁?"], asked_histories


async def test_group_users_histories_stay_apart_with_edits(
    fake: FakeBotApi, app: Application, asked_histories: list
) -> None:
    """Alice edits her question in a group; Bob's follow-up keeps his own subject."""
    a = fake.push_message(GROUP, f"@{BOT_USERNAME} 星河支付的CEO是谁?", user_id=ALICE)
    await reply(fake, a)
    await reply(fake, fake.push_message(GROUP, f"@{BOT_USERNAME} 月光银行的CEO是谁?", user_id=BOB))
    edited = fake.push_edit(GROUP, a.message_id, f"@{BOT_USERNAME} 星河支付总部在哪里?")
    await fake.wait_for(lambda: fake.sent_after(edited))
    await reply(fake, fake.push_message(GROUP, f"@{BOT_USERNAME} 它成立于哪一年?", user_id=BOB))
    assert asked_histories[-1] == ["月光银行的CEO是谁?"]
    await reply(fake, fake.push_message(GROUP, f"@{BOT_USERNAME} 它成立于哪一年?", user_id=ALICE))
    assert asked_histories[-1] == ["星河支付总部在哪里?"]
