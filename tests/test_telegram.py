"""The Telegram bot end to end: the real Application and Retriever against a fake Bot API.

Every test runs the Application that `run_bot` runs (`build_application`), polling the
fake server in `fakebot.py` over HTTP on 127.0.0.1, and looks at what the bot sent.
"""

import asyncio
import logging
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from fakebot import BOT_USERNAME, ApiCall, FakeBotApi, Pushed, parse_telegram_html
from telegram.ext import Application

import bot.refresh as bot_refresh
from bot.chat import Button, ButtonCache, ChatHistory, QuestionLimiter
from bot.lifecycle import run_bot
from bot.redact import REDACTOR, RedactSecrets
from bot.settings import Settings
from bot.telegram import (
    ALLOWED_UPDATES,
    MAX_QUESTION_CHARS,
    BotState,
    FloodLimiter,
    build_application,
    refresh_feeds,
    refresh_job,
    webhook_options,
)
from bot.texts import EMPTY_QUESTION, EXPIRED, NOT_ADMIN, NOT_TEXT
from corpus.article import Article
from corpus.errors import ConfigError, FetchError
from retrieval import Retriever

TOKEN = "987654321:AAFake-Token_for-tests-0123456789abcdef"
ADMIN = 42
ALICE = 1001
BOB = 1002
GROUP = -100500

ANSWER_CEO = "星河支付董事会宣布,任命林晓薇为公司首席执行官(CEO)"
TITLE_CEO = "星河支付任命新CEO"
LINK_CEO = "https://news.example.com/a2"


def fixture_articles() -> list[Article]:
    """Three short articles: two about 星河支付 (and its CEO), one about 月光银行."""
    return [
        Article(
            id="a1",
            title="星河支付完成C轮融资",
            link="https://news.example.com/a1",
            published=datetime(2024, 3, 1, tzinfo=UTC),
            category="金融科技",
            paragraphs=[
                "星河支付今天宣布完成5亿元C轮融资,由红杉资本领投。",
                "星河支付成立于2015年,总部位于杭州,主要为小微商户提供移动支付服务。",
                "本轮融资将用于海外市场拓展和风控系统建设。",
            ],
        ),
        Article(
            id="a2",
            title=TITLE_CEO,
            link=LINK_CEO,
            published=datetime(2024, 5, 20, tzinfo=UTC),
            category="人事",
            paragraphs=[
                "星河支付董事会宣布,任命林晓薇为公司首席执行官(CEO)。",
                "林晓薇此前担任星河支付首席运营官,她于2018年加入公司。",
                "前任CEO王建国将转任董事长,继续负责公司战略。",
            ],
        ),
        Article(
            id="a3",
            title="月光银行推出数字钱包 <月光宝盒> & 更多",
            link="https://news.example.com/a3?from=feed&lang=zh",
            published=datetime(2024, 7, 8, tzinfo=UTC),
            category="产品",
            paragraphs=[
                "月光银行推出数字钱包“月光宝盒”,支持东南亚六个国家的本地货币结算。",
                "月光银行的CEO张明表示,月光宝盒的手续费率为0.6%,低于行业平均水平。",
                "月光银行成立于2009年,总部位于成都。",
            ],
        ),
    ]


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def retriever() -> Retriever:
    return Retriever.from_articles(fixture_articles())


@pytest.fixture
def fake() -> Iterator[FakeBotApi]:
    with FakeBotApi(TOKEN) as api:
        yield api


def make_settings(api: FakeBotApi, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "feedqa_data_dir": tmp_path / "data",
        "feedqa_feeds": [],
        "feedqa_history_turns": 3,
        "feedqa_history_ttl_minutes": 30,
        "telegram_bot_token": TOKEN,
        "telegram_api_base_url": api.base_url,
        "telegram_admin_ids": [ADMIN],
        "telegram_allowed_chat_ids": [],
        "telegram_webhook_url": None,
        "telegram_webhook_secret": None,
        "telegram_questions_per_minute": 20,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@asynccontextmanager
async def running(application: Application) -> AsyncIterator[Application]:
    """Start the application the way run_polling does, and stop it afterwards (closing its
    journal, as run_polling does in post_shutdown)."""
    await application.initialize()
    await application.post_init(application)
    await application.start()
    await application.updater.start_polling(
        poll_interval=0, timeout=1, allowed_updates=ALLOWED_UPDATES
    )
    try:
        yield application
    finally:
        await application.updater.stop()
        await application.stop()
        await application.shutdown()
        await application.post_shutdown(application)


@pytest.fixture
def settings(fake: FakeBotApi, tmp_path: Path) -> Settings:
    return make_settings(fake, tmp_path)


@pytest.fixture
async def app(settings: Settings, retriever: Retriever) -> AsyncIterator[Application]:
    async with running(build_application(settings, retriever)) as application:
        yield application


@pytest.fixture(autouse=True)
def no_token_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Capture every log record at DEBUG; the token must appear in none of them."""
    caplog.set_level(logging.DEBUG)
    yield
    assert TOKEN not in caplog.text
    for record in caplog.records:
        assert TOKEN not in record.getMessage()
        assert TOKEN not in (record.exc_text or "")


async def reply(api: FakeBotApi, pushed: Pushed, timeout: float = 10.0) -> ApiCall:
    """The first message the bot sent quoting an injected message."""
    calls = await api.wait_for(lambda: api.replies_to(pushed), timeout)
    return calls[0]


async def next_message(api: FakeBotApi, pushed: Pushed, contains: str = "") -> ApiCall:
    """The first message sent to the chat after `pushed` (containing `contains`)."""
    calls = await api.wait_for(lambda: [c for c in api.sent_after(pushed) if contains in plain(c)])
    return calls[0]


def plain(call: ApiCall) -> str:
    """The text of a sent message as the user sees it (entities parsed by the fake)."""
    return call.result["text"] if call.ok and isinstance(call.result, dict) else call.text


def buttons(call: ApiCall) -> dict[str, str]:
    markup = call.params.get("reply_markup") or {}
    return {b["text"]: b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row}


# --- private chat -------------------------------------------------------------------------------


async def test_private_question_gets_cited_answer(fake: FakeBotApi, app: Application) -> None:
    pushed = fake.push_message(ALICE, "星河支付的CEO是谁?")
    call = await reply(fake, pushed)
    text = plain(call)
    assert text.startswith(ANSWER_CEO)
    assert TITLE_CEO in text and LINK_CEO in text
    assert "[1] 星河支付任命新CEO · 2024-05-20 · 第1段" in text
    assert call.params["parse_mode"] == "HTML"
    assert call.params["link_preview_options"] == {"is_disabled": True}
    assert "<b>" in call.text  # query terms in bold
    assert set(buttons(call)) == {"原文", "更多"}
    assert all(len(data.encode()) <= 64 for data in buttons(call).values())
    typing = [c for c in fake.calls_of("sendChatAction") if c.chat_id == ALICE]
    assert typing and typing[0].params["action"] == "typing" and typing[0].at <= call.at
    assert len(fake.replies_to(pushed)) == 1


async def test_titles_with_markup_are_escaped(fake: FakeBotApi, app: Application) -> None:
    pushed = fake.push_message(ALICE, "月光银行的CEO是谁?")
    call = await reply(fake, pushed)
    assert call.params["parse_mode"] == "HTML"  # accepted by the fake's HTML parser
    assert "月光银行推出数字钱包 <月光宝盒> & 更多" in plain(call)
    assert "https://news.example.com/a3?from=feed&lang=zh" in plain(call)
    assert "&lt;月光宝盒&gt; &amp; 更多" in call.text


async def test_follow_up_uses_history_and_reset_forgets(
    fake: FakeBotApi, app: Application, retriever: Retriever, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[list[str] | None] = []
    real_ask = retriever.ask

    def spy(question: str, history: list[str] | None = None, k: int = 3) -> Any:
        seen.append(list(history) if history else None)
        return real_ask(question, history, k)

    monkeypatch.setattr(retriever, "ask", spy)
    first = fake.push_message(ALICE, "月光银行的CEO是谁?")
    await reply(fake, first)
    follow = fake.push_message(ALICE, "它的总部在哪里?")
    with_context = plain(await reply(fake, follow))
    assert seen[-1] == ["月光银行的CEO是谁?"]
    assert "月光银行推出数字钱包" in with_context  # the follow-up stays on 月光银行
    assert not with_context.startswith("星河支付成立于2015年")
    assert with_context.endswith(
        "接着上一个问题「月光银行的CEO是谁?」回答;不是接着问的话,用 /reset 清除上下文"
    )

    reset = fake.push_message(ALICE, "/reset")
    assert "忘记" in plain(await next_message(fake, reset))
    again = fake.push_message(ALICE, "它的总部在哪里?")
    assert "接着" not in plain(await reply(fake, again))
    assert seen[-1] is None

    other = fake.push_message(BOB, "它的总部在哪里?")
    await reply(fake, other)
    assert seen[-1] is None  # history is per chat


async def test_history_expires_after_silence(
    fake: FakeBotApi, tmp_path: Path, retriever: Retriever, asked_histories: list
) -> None:
    settings = make_settings(fake, tmp_path, feedqa_history_ttl_minutes=0.0005)  # 30 ms
    async with running(build_application(settings, retriever)):
        await reply(fake, fake.push_message(ALICE, "星河支付的CEO是谁?"))
        await asyncio.sleep(0.1)
        await reply(fake, fake.push_message(ALICE, "她什么时候加入公司的?"))
    assert asked_histories == [None, None]


async def test_unanswerable_question_says_not_found(fake: FakeBotApi, app: Application) -> None:
    pushed = fake.push_message(ALICE, "火星上有没有水?")
    text = plain(await reply(fake, pushed))
    assert text.startswith("资料库中没有找到答案。")


async def test_not_found_offers_closest_articles(
    fake: FakeBotApi, app: Application, retriever: Retriever
) -> None:
    candidates = ["王建国的年龄是多少?", "星河支付的员工人数?", "月光银行有多少员工?"]
    question = next(
        (q for q in candidates if not (a := retriever.ask(q)).answered and a.citations), None
    )
    assert question, "the fixture corpus should leave one of these unanswered"
    closest = retriever.ask(question).citations[0]
    text = plain(await reply(fake, fake.push_message(ALICE, question)))
    assert text.startswith("资料库中没有找到答案。")
    assert "最接近" in text
    assert closest.title in text and closest.link in text


async def test_an_invisible_question_is_empty(fake: FakeBotApi, app: Application) -> None:
    pushed = fake.push_message(ALICE, "/ask \u200b\u2060\ufeff")
    assert plain(await reply(fake, pushed)) == EMPTY_QUESTION


async def test_the_bot_answers_from_what_an_ingest_beside_it_saved(
    fake: FakeBotApi, settings: Settings, tmp_path: Path
) -> None:
    library = Retriever.open(tmp_path / "lib", catch_up=False)
    xinghe, yueguang = fixture_articles()[:2], fixture_articles()[2:]
    async with running(build_application(settings, library)):
        Retriever.open(tmp_path / "lib").add(xinghe)  # `feedqa ingest`, elsewhere
        inline = fake.push_inline_query(BOB, "星河支付的CEO是谁?")
        [call] = await fake.wait_for(
            lambda: [
                c
                for c in fake.calls_of("answerInlineQuery")
                if c.params["inline_query_id"] == inline.inline_query_id
            ]
        )
        content = call.params["results"][0]["input_message_content"]["message_text"]
        assert parse_telegram_html(content).startswith(ANSWER_CEO)
        Retriever.open(tmp_path / "lib").add(yueguang)  # and another one
        pushed = fake.push_message(ALICE, "月光银行总部在哪里?")
        assert "成都" in plain(await reply(fake, pushed))


async def test_too_long_message_gets_polite_reply(fake: FakeBotApi, app: Application) -> None:
    pushed = fake.push_message(ALICE, "星河支付" * 1100)  # 4400 characters
    text = plain(await reply(fake, pushed))
    assert "问题太长" in text and str(MAX_QUESTION_CHARS) in text


async def test_sticker_and_photo_get_a_hint(fake: FakeBotApi, app: Application) -> None:
    sticker = fake.push_sticker(ALICE)
    assert plain(await next_message(fake, sticker)) == NOT_TEXT
    photo = fake.push_photo(BOB)
    assert plain(await next_message(fake, photo)) == NOT_TEXT


async def test_answers_shared_inline_are_not_questions(fake: FakeBotApi, app: Application) -> None:
    shared = fake.text_message(ALICE, ANSWER_CEO)
    shared["via_bot"] = fake.bot_user
    fake.push_update({"message": shared})
    mention = fake.push_message(ALICE, f"@{BOT_USERNAME} 星河支付的CEO是谁?")
    assert plain(await reply(fake, mention)).startswith(ANSWER_CEO)
    await asyncio.sleep(0.2)
    assert all(c.reply_to != shared["message_id"] for c in fake.sent_messages(ALICE))


async def test_unknown_command_points_to_help(fake: FakeBotApi, app: Application) -> None:
    pushed = fake.push_message(ALICE, "/frobnicate")
    assert "/help" in plain(await next_message(fake, pushed))


async def test_html_rejected_is_resent_as_plain_text(fake: FakeBotApi, app: Application) -> None:
    fake.reject_next_html()
    pushed = fake.push_message(ALICE, "星河支付的CEO是谁?")
    call = await reply(fake, pushed)
    rejected = fake.calls_of("sendMessage", ok=False)
    assert len(rejected) == 1 and rejected[0].params["parse_mode"] == "HTML"
    assert "parse_mode" not in call.params
    assert call.text.startswith(ANSWER_CEO)  # plain text, no tags or entities
    assert "<b>" not in call.text and LINK_CEO in call.text
    assert set(buttons(call)) == {"原文", "更多"}


async def test_per_user_question_limit(
    fake: FakeBotApi, tmp_path: Path, retriever: Retriever
) -> None:
    settings = make_settings(fake, tmp_path, telegram_questions_per_minute=2)
    async with running(build_application(settings, retriever)):
        for _ in range(2):
            assert plain(await reply(fake, fake.push_message(ALICE, "星河支付的CEO是谁?")))
        third = plain(await reply(fake, fake.push_message(ALICE, "星河支付的CEO是谁?")))
        assert "太频繁" in third and "2" in third
        assert plain(await reply(fake, fake.push_message(BOB, "星河支付的CEO是谁?"))).startswith(
            ANSWER_CEO
        )


# --- commands ---------------------------------------------------------------------------------------


async def test_start_help_about_and_command_menu(
    fake: FakeBotApi, app: Application, retriever: Retriever
) -> None:
    assert {c["command"] for c in fake.commands} >= {"ask", "help", "reset", "about", "start"}
    start = plain(await next_message(fake, fake.push_message(ALICE, "/start")))
    assert "可以试试" in start
    examples = [line[2:] for line in start.splitlines() if line.startswith("• ")]
    # the archive's own suggestions, each one it answers (how many depends on the model)
    assert examples and examples == retriever.example_questions(3)
    assert all(retriever.ask(q).answered for q in examples)
    help_text = plain(await next_message(fake, fake.push_message(ALICE, "/help")))
    assert "/ask" in help_text and f"@{BOT_USERNAME}" in help_text
    about = plain(await next_message(fake, fake.push_message(ALICE, "/about")))
    assert "3 篇文章" in about and "9 段" in about
    assert "2024-03-01 至 2024-07-08" in about


async def test_stats_is_for_admins(fake: FakeBotApi, app: Application) -> None:
    await reply(fake, fake.push_message(ALICE, "星河支付的CEO是谁?"))
    await reply(fake, fake.push_message(BOB, "火星上有没有水?"))
    refused = fake.push_message(ALICE, "/stats")
    assert plain(await next_message(fake, refused)) == NOT_ADMIN
    stats = plain(await next_message(fake, fake.push_message(ADMIN, "/stats")))
    assert "已回答:1" in stats and "未找到答案:1" in stats and "聊天数:2" in stats
    assert "运行时间" in stats and "3 篇文章" in stats


GROUP_ANONYMOUS_BOT = 1087968824
"""The `from` of every message an anonymous group admin sends, in every group."""


def on_behalf_of_the_group(api: FakeBotApi, chat_id: int, text: str) -> Pushed:
    """A message an anonymous admin of the group sends (on behalf of the group)."""
    message = api.text_message(chat_id, text, user_id=GROUP_ANONYMOUS_BOT)
    message["from"] = {
        "id": GROUP_ANONYMOUS_BOT, "is_bot": True, "first_name": "Group",
        "username": "GroupAnonymousBot",
    }  # fmt: skip
    message["sender_chat"] = {"id": chat_id, "type": "supergroup", "title": f"Group {chat_id}"}
    return api._push_message_dict(message)  # noqa: SLF001


async def test_an_anonymous_admin_of_any_group_is_no_admin_here(
    fake: FakeBotApi, tmp_path: Path, retriever: Retriever
) -> None:
    """Every anonymous group admin, in every group, sends as GroupAnonymousBot: its id in
    TELEGRAM_ADMIN_IDS (the id an admin who posts anonymously sees) would make anyone who
    is anonymous admin of a group of their own an admin of this bot, in any chat."""
    settings = make_settings(
        fake, tmp_path, telegram_admin_ids=[ADMIN, GROUP_ANONYMOUS_BOT],
        telegram_allowed_chat_ids=[GROUP],
    )  # fmt: skip
    async with running(build_application(settings, retriever)):
        here = on_behalf_of_the_group(fake, GROUP, f"/stats@{BOT_USERNAME}")
        assert plain(await next_message(fake, here)) == NOT_ADMIN
        elsewhere = on_behalf_of_the_group(fake, -100777, f"/stats@{BOT_USERNAME}")
        await asyncio.sleep(0.5)
        assert not fake.sent_messages(-100777)  # not an allowed chat, and no admin there
        assert elsewhere.update_id


RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>测试源</title><link>https://feed.example.com/</link>
<item><title>星河支付在新加坡设立分公司</title>
<link>https://feed.example.com/n1</link><guid>n1</guid>
<pubDate>Mon, 02 Sep 2024 09:00:00 +0800</pubDate>
<description><![CDATA[<p>星河支付宣布在新加坡设立东南亚分公司,由副总裁陈宇负责。</p>]]></description>
</item></channel></rss>
"""


async def test_reload_refused_to_strangers_and_runs_for_admins(
    fake: FakeBotApi,
    tmp_path: Path,
    retriever: Retriever,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    feed = tmp_path / "feed.xml"
    feed.write_text(RSS, encoding="utf-8")
    missing = tmp_path / "missing.xml"
    settings = make_settings(fake, tmp_path, feedqa_feeds=[str(feed), str(missing)])
    release = threading.Event()
    real_load = bot_refresh.load_feed

    def slow_load(source: str, **limits: Any) -> list[Article]:
        release.wait(10)
        return real_load(source, **limits)

    monkeypatch.setattr(bot_refresh, "load_feed", slow_load)
    async with running(build_application(settings, retriever)):
        stranger = fake.push_message(ALICE, "/reload")
        assert plain(await next_message(fake, stranger)) == NOT_ADMIN

        reload = fake.push_message(ADMIN, "/reload")
        await next_message(fake, reload, "正在重新读取 2 个新闻源")
        # The feed is still loading: questions are answered meanwhile.
        during = fake.push_message(BOB, "星河支付的CEO是谁?")
        assert plain(await reply(fake, during)).startswith(ANSWER_CEO)
        busy = fake.push_message(ADMIN, "/reload")
        assert "正在更新" in plain(await next_message(fake, busy, "正在更新"))
        release.set()
        report = plain(await next_message(fake, reload, "更新完成"))
        both = [fake.push_message(ADMIN, "/reload") for _ in range(2)]  # at once
        release.clear()
        await fake.wait_for(lambda: any("正在更新" in plain(c) for c in fake.sent_after(both[0])))
        release.set()
        await fake.wait_for(
            lambda: sum("更新完成" in plain(c) for c in fake.sent_after(both[0])) == 1
        )
        await asyncio.sleep(0.3)
        assert sum("更新完成" in plain(c) for c in fake.sent_after(both[0])) == 1

        assert "新增 1 篇" in report
        assert f"✓ {feed}:新增 1" in report
        assert f"✗ {missing}" in report
        new = fake.push_message(BOB, "星河支付在新加坡设立的分公司由谁负责?")
        assert "https://feed.example.com/n1" in plain(await reply(fake, new))
        about = plain(await next_message(fake, fake.push_message(ALICE, "/about")))
        assert "4 篇文章" in about and "尚未更新" not in about


async def test_a_long_reload_report_arrives_whole_in_parts(
    fake: FakeBotApi, tmp_path: Path, retriever: Retriever
) -> None:
    missing = [str(tmp_path / f"<feed-{i:02d}>-{'x' * 80}.xml") for i in range(60)]
    settings = make_settings(fake, tmp_path, feedqa_feeds=missing)
    async with running(build_application(settings, retriever)):
        reload = fake.push_message(ADMIN, "/reload")
        await next_message(fake, reload, "更新完成")
        await asyncio.sleep(0.3)
        parts = [plain(c) for c in fake.sent_after(reload) if c.ok]
    report = "\n".join(p for p in parts if "正在重新读取" not in p)
    assert len(parts) > 2 and all(len(p) <= 4096 for p in parts)
    assert all(f"✗ {name}" in report for name in missing)  # every feed, escaped


async def test_refresh_job_logs_errors_and_never_raises(
    fake: FakeBotApi,
    tmp_path: Path,
    retriever: Retriever,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    feeds = ["https://feeds.example.com/ok.xml", "https://feeds.example.com/down.xml", "local.xml"]
    settings = make_settings(fake, tmp_path, feedqa_feeds=feeds, feedqa_refresh_minutes=15)
    fetched: list[str] = []

    def fake_load(source: str, **limits: Any) -> list[Article]:
        fetched.append(source)
        if "down" in source:
            raise FetchError(f"timed out fetching {source}")
        return [
            Article(
                id="n2",
                title="星河支付新品",
                link="https://feeds.example.com/n2",
                paragraphs=["新品上线。"],
            )
        ]

    monkeypatch.setattr(bot_refresh, "load_feed", fake_load)
    application = build_application(settings, retriever)
    [job] = application.job_queue.jobs()
    assert job.name == "refresh" and job.job.trigger.interval.total_seconds() == 15 * 60

    class Context:
        bot_data = application.bot_data

    await refresh_job(Context())  # type: ignore[arg-type]
    assert fetched == feeds[:2]  # only the URLs are re-fetched on schedule
    assert retriever.info()["articles"] == 4
    assert "down.xml failed: timed out" in caplog.text

    def broken(source: str, **limits: Any) -> list[Article]:
        raise RuntimeError("unexpected")

    monkeypatch.setattr(bot_refresh, "load_feed", broken)
    state: BotState = application.bot_data["feedqa"]
    results = await refresh_feeds(state, feeds[:1])
    assert results[0].error and "RuntimeError" in results[0].error


async def test_a_library_repair_made_during_a_refresh_is_logged(
    tmp_path: Path,
    fake: FakeBotApi,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Repairs were logged only when the bot opened the library: one a refresh's add made
    (a torn line another process left in the log) went unsaid."""
    import bot.refresh as bot_refresh
    from retrieval.articlelog import LOG

    lib = tmp_path / "lib"
    retriever = Retriever.open(lib, semantic=False)
    with open(lib / LOG, "ab") as f:
        f.write(b'{"id": "torn", "ti')  # an ingest killed mid-append
    settings = make_settings(fake, tmp_path)
    state: BotState = build_application(settings, retriever).bot_data["feedqa"]
    article = Article(id="r1", title="海鸥银行改名", link="https://r.example/1",
                      paragraphs=["海鸥银行改名为海燕银行。"])  # fmt: skip
    monkeypatch.setattr(bot_refresh, "load_feed", lambda source, **limits: [article])
    with caplog.at_level(logging.WARNING, logger="bot"):
        await refresh_feeds(state, ["feed.xml"])
    assert "moved to articles.rejected" in caplog.text


# --- groups -------------------------------------------------------------------------------------------


async def test_group_ask_mention_and_reply_answered_chatter_ignored(
    fake: FakeBotApi, app: Application
) -> None:
    chatter = fake.push_message(GROUP, "今天中午吃什么?星河支付的CEO是谁", user_id=ALICE)
    ask = fake.push_message(GROUP, "/ask 星河支付的CEO是谁?", user_id=ALICE)
    answer = await reply(fake, ask)
    assert plain(answer).startswith(ANSWER_CEO)

    addressed = fake.push_message(GROUP, f"/ask@{BOT_USERNAME} 月光银行的CEO是谁?", user_id=BOB)
    assert "月光银行" in plain(await reply(fake, addressed))

    mention = fake.push_message(GROUP, f"@{BOT_USERNAME} 星河支付总部在哪里?", user_id=BOB)
    assert "杭州" in plain(await reply(fake, mention))

    follow = fake.push_message(
        GROUP, "融资多少?", user_id=BOB, reply_to_bot_message_id=answer.result["message_id"]
    )
    assert plain(await reply(fake, follow))

    empty = fake.push_message(GROUP, "/ask", user_id=BOB)
    assert "/ask" in plain(await reply(fake, empty))

    await asyncio.sleep(0.3)
    assert not fake.replies_to(chatter)
    assert all(c.reply_to != chatter.message_id for c in fake.calls_of("sendMessage", ok=None))


async def test_unknown_command_in_a_group_answered_only_when_addressed_to_the_bot(
    fake: FakeBotApi, app: Application
) -> None:
    other_bot = fake.push_message(GROUP, "/weather 杭州", user_id=ALICE)
    elsewhere = fake.push_message(GROUP, "/weather@some_other_bot 杭州", user_id=ALICE)
    addressed = fake.push_message(GROUP, f"/weather@{BOT_USERNAME} 杭州", user_id=BOB)
    assert "/help" in plain(await reply(fake, addressed))
    await asyncio.sleep(0.3)
    assert not fake.replies_to(other_bot) and not fake.replies_to(elsewhere)


async def test_allowed_chats(fake: FakeBotApi, tmp_path: Path, retriever: Retriever) -> None:
    settings = make_settings(fake, tmp_path, telegram_allowed_chat_ids=[ALICE, GROUP])
    async with running(build_application(settings, retriever)):
        stranger = fake.push_message(BOB, "星河支付的CEO是谁?")
        assert "只在指定的聊天" in plain(await next_message(fake, stranger))
        other_group = fake.push_message(-100999, "/ask 星河支付的CEO是谁?", user_id=ALICE)
        allowed = fake.push_message(GROUP, "/ask 星河支付的CEO是谁?", user_id=BOB)
        assert plain(await reply(fake, allowed)).startswith(ANSWER_CEO)
        admin = fake.push_message(ADMIN, "星河支付的CEO是谁?")
        assert plain(await reply(fake, admin)).startswith(ANSWER_CEO)
        await asyncio.sleep(0.2)
        assert not fake.sent_messages(-100999)
        assert other_group.update_id


# --- buttons --------------------------------------------------------------------------------------------


async def test_buttons_sources_more_and_expired(
    fake: FakeBotApi, settings: Settings, retriever: Retriever
) -> None:
    async with running(build_application(settings, retriever)):
        answer = await reply(fake, fake.push_message(ALICE, "星河支付的CEO是谁?"))
        data = buttons(answer)
        message_id = answer.result["message_id"]

        source = fake.push_callback(ALICE, message_id, data["原文"])
        shown = await next_message(fake, source, "第1段")
        assert "星河支付董事会宣布,任命林晓薇为公司首席执行官(CEO)。" in plain(shown)
        assert TITLE_CEO in plain(shown) and LINK_CEO in plain(shown)
        assert shown.reply_to == message_id

        more = fake.push_callback(ALICE, message_id, data["更多"])
        further = plain(await next_message(fake, more, "[4]"))
        cited = retriever.ask("星河支付的CEO是谁?").citations
        for c in cited:
            assert f"{c.title} · {c.published:%Y-%m-%d} · 第{c.paragraph}段" not in further

        await fake.wait_for(lambda: len(fake.calls_of("answerCallbackQuery")) >= 2)
        answered = fake.calls_of("answerCallbackQuery")
        assert {c.params["callback_query_id"] for c in answered} == {
            source.callback_query_id,
            more.callback_query_id,
        }

    # A restarted bot no longer knows the button: it says so politely.
    async with running(build_application(settings, retriever)):
        stale = fake.push_callback(ALICE, message_id, data["原文"])
        calls = await fake.wait_for(
            lambda: [
                c
                for c in fake.calls_of("answerCallbackQuery")
                if c.params["callback_query_id"] == stale.callback_query_id
            ]
        )
        assert calls[0].params["text"] == EXPIRED
        garbage = fake.push_callback(ALICE, message_id, "something:else")
        await fake.wait_for(
            lambda: [
                c
                for c in fake.calls_of("answerCallbackQuery")
                if c.params["callback_query_id"] == garbage.callback_query_id
            ]
        )


# --- inline mode ------------------------------------------------------------------------------------------


async def test_inline_query(fake: FakeBotApi, app: Application) -> None:
    query = fake.push_inline_query(ALICE, "星河支付的CEO是谁?")
    [call] = await fake.wait_for(
        lambda: [
            c
            for c in fake.calls_of("answerInlineQuery")
            if c.params["inline_query_id"] == query.inline_query_id
        ]
    )
    results = call.params["results"]
    assert 1 <= len(results) <= 5
    first = results[0]
    assert first["type"] == "article" and ANSWER_CEO.startswith(first["title"].rstrip("…"))
    content = first["input_message_content"]
    assert content["parse_mode"] == "HTML"
    assert content["link_preview_options"] == {"is_disabled": True}
    shown = parse_telegram_html(content["message_text"])
    assert shown.startswith(ANSWER_CEO) and TITLE_CEO in shown and LINK_CEO in shown
    assert call.params["cache_time"] <= 60

    empty = fake.push_inline_query(ALICE, " \u200b ")
    [hint] = await fake.wait_for(
        lambda: [
            c
            for c in fake.calls_of("answerInlineQuery")
            if c.params["inline_query_id"] == empty.inline_query_id
        ]
    )
    assert hint.params["results"] == [] and hint.params["button"]["text"]

    escaped = fake.push_inline_query(BOB, "月光银行的CEO是谁?")
    [call] = await fake.wait_for(
        lambda: [
            c
            for c in fake.calls_of("answerInlineQuery")
            if c.params["inline_query_id"] == escaped.inline_query_id
        ]
    )
    assert (
        "&lt;月光宝盒&gt; &amp;"
        in call.params["results"][0]["input_message_content"]["message_text"]
    )


# --- robustness and security ----------------------------------------------------------------------------


async def test_handler_exception_does_not_stop_the_bot(
    fake: FakeBotApi,
    app: Application,
    retriever: Retriever,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    real_ask = retriever.ask
    calls = 0

    def flaky(question: str, history: Any = None, k: int = 3) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError(f"index exploded while using {TOKEN}")
        return real_ask(question, history, k)

    monkeypatch.setattr(retriever, "ask", flaky)
    broken = fake.push_message(ALICE, "星河支付的CEO是谁?")
    assert "出错了" in plain(await next_message(fake, broken))
    fine = fake.push_message(ALICE, "星河支付的CEO是谁?")
    assert plain(await reply(fake, fine)).startswith(ANSWER_CEO)
    failures = [
        r for r in caplog.records if r.name.startswith("bot.") and r.levelno == logging.ERROR
    ]
    assert failures and failures[0].exc_info is not None
    assert "index exploded while using <redacted>" in caplog.text  # traceback kept, token not


async def test_failed_send_does_not_stop_the_bot(fake: FakeBotApi, app: Application) -> None:
    fake.fail_next("sendMessage", code=400, description="Bad Request: not enough rights")
    first = fake.push_message(ALICE, "星河支付的CEO是谁?")  # a 4xx is not retried
    await next_message(fake, first, "出错了")
    second = fake.push_message(ALICE, "星河支付的CEO是谁?")
    assert plain(await reply(fake, second)).startswith(ANSWER_CEO)


async def test_token_is_redacted_even_from_chatty_loggers(
    fake: FakeBotApi, settings: Settings, retriever: Retriever, caplog: pytest.LogCaptureFixture
) -> None:
    application = build_application(settings, retriever)
    httpx_logger = logging.getLogger("httpx")
    assert httpx_logger.level == logging.WARNING
    httpx_logger.setLevel(logging.DEBUG)  # defeat the first line of defence
    try:
        async with running(application):
            await reply(fake, fake.push_message(ALICE, "星河支付的CEO是谁?"))
    finally:
        httpx_logger.setLevel(logging.WARNING)
    assert "HTTP Request: POST" in caplog.text
    assert f"/bot{REDACTOR.replacement}/getMe" in caplog.text
    for call in fake.calls:
        assert TOKEN not in str(call.params)


@pytest.mark.parametrize("inside", [TOKEN.split(":")[0], TOKEN[12:20], "A"])
def test_a_webhook_secret_inside_the_token_leaves_none_of_the_token_shown(inside: str) -> None:
    """TELEGRAM_WEBHOOK_SECRET may be any 1 to 256 letters, digits, _ or -, so it may occur
    inside the token (the bot's numeric id, or a few letters). The secrets are a set: when
    the short one was replaced first, the token no longer matched and the rest was shown."""
    redactor = RedactSecrets()
    for order in ([inside, TOKEN], [TOKEN, inside]):  # the orders a set may iterate in
        redactor.secrets = order  # type: ignore[assignment]
        line = redactor.scrub(f"HTTP Request: POST http://127.0.0.1/bot{TOKEN}/getMe")
        assert TOKEN.split(":")[1] not in line and TOKEN[20:] not in line, line


async def test_webhook_mode(fake: FakeBotApi, tmp_path: Path, retriever: Retriever) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = make_settings(
        fake,
        tmp_path,
        telegram_webhook_url="https://bot.example.com/feedqa/hook+1(x)",  # no regex in it
        telegram_webhook_secret="s3cret-Value_1",
        telegram_webhook_listen="127.0.0.1",
        telegram_webhook_port=port,
    )
    options = webhook_options(settings)
    application = build_application(settings, retriever)
    await application.initialize()
    await application.start()
    await application.updater.start_webhook(**options, allowed_updates=ALLOWED_UPDATES)
    try:
        [set_webhook] = fake.calls_of("setWebhook")
        assert set_webhook.params["url"] == "https://bot.example.com/feedqa/hook+1(x)"
        assert set_webhook.params["secret_token"] == "s3cret-Value_1"
        message = fake.text_message(ALICE, "星河支付的CEO是谁?")
        url = f"http://127.0.0.1:{port}/feedqa/hook+1(x)"
        async with httpx.AsyncClient() as client:
            update = {"update_id": 1, "message": message}
            bad = await client.post(
                url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "x"}
            )
            assert bad.status_code == 403
            good = await client.post(
                url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret-Value_1"}
            )
            assert good.status_code == 200
        pushed = Pushed(update_id=1, at=0, message_id=message["message_id"], chat_id=ALICE)
        assert plain(await reply(fake, pushed)).startswith(ANSWER_CEO)
    finally:
        await application.updater.stop()
        await application.stop()
        await application.shutdown()


async def test_a_webhook_url_holding_the_token_escaped_is_not_logged(
    fake: FakeBotApi, tmp_path: Path, retriever: Retriever, caplog: pytest.LogCaptureFixture
) -> None:
    """A webhook URL that carries the token in its path may write its colon as %3A: the
    part after it is the token's secret all the same, and must not be logged."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    bot_id, key = TOKEN.split(":")
    settings = make_settings(
        fake, tmp_path, telegram_webhook_url=f"https://bot.example.com/{bot_id}%3A{key}",
        telegram_webhook_secret="s3cret-Value_1", telegram_webhook_port=port,
    )  # fmt: skip
    application = build_application(settings, retriever)
    await application.initialize()
    await application.start()
    await application.updater.start_webhook(
        **webhook_options(settings), allowed_updates=ALLOWED_UPDATES
    )
    try:
        [set_webhook] = fake.calls_of("setWebhook")
        assert key in set_webhook.params["url"]  # Telegram is told the URL as it is
    finally:
        await application.updater.stop()
        await application.stop()
        await application.shutdown()
    assert "setWebhook" in caplog.text  # PTB logs the call at DEBUG, with its parameters
    assert key not in caplog.text


def test_webhook_mode_needs_a_url(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, telegram_bot_token=TOKEN, telegram_webhook_url=None)
    with pytest.raises(ConfigError, match="TELEGRAM_WEBHOOK_URL is not set"):
        run_bot(settings, webhook=True)


def test_run_bot_without_token_raises_config_error() -> None:
    settings = Settings(_env_file=None, telegram_bot_token=None)
    with pytest.raises(ConfigError, match="TELEGRAM_BOT_TOKEN is not set"):
        run_bot(settings)
    with pytest.raises(ConfigError, match="TELEGRAM_BOT_TOKEN is not set"):
        run_bot(Settings(_env_file=None, telegram_bot_token="  "))


@pytest.mark.parametrize("token", [TOKEN[:9] + "\n" + TOKEN[9:], TOKEN[:20] + " " + TOKEN[20:]])
def test_a_token_with_a_break_or_space_inside_is_refused_at_once(token: str) -> None:
    with pytest.raises(ConfigError, match="TELEGRAM_BOT_TOKEN has a space or a line break") as e:
        run_bot(Settings(_env_file=None, telegram_bot_token=token))
    assert TOKEN[9:] not in str(e.value) and TOKEN[:20] not in str(e.value)


def test_feedqa_telegram_without_token_exits_with_a_clear_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.cli import cli

    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    monkeypatch.setenv("FEEDQA_DATA_DIR", str(tmp_path / "data"))
    result = CliRunner().invoke(cli, ["telegram"])
    assert result.exit_code == 1
    assert "TELEGRAM_BOT_TOKEN is not set" in result.output
    assert "Traceback" not in result.output


def test_run_bot_with_rejected_token(
    fake: FakeBotApi, tmp_path: Path, retriever: Retriever
) -> None:
    wrong = "111:not-the-right-token"
    settings = make_settings(fake, tmp_path, telegram_bot_token=wrong)
    with pytest.raises(ConfigError, match="rejected by Telegram: check the token") as caught:
        run_bot(settings, retriever=retriever)
    assert wrong not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert fake.calls == []  # nothing got past the 401


async def test_flood_limiter_throttles_messages_but_not_typing() -> None:
    limiter = FloodLimiter(overall_max_rate=1, overall_time_period=60)
    await limiter.initialize()
    sent: list[str] = []

    async def send(endpoint: str) -> bool:
        sent.append(endpoint)
        return True

    for _ in range(5):
        await limiter.process_request(
            send, ("sendChatAction",), {}, "sendChatAction", {"chat_id": 1}, None
        )
    await limiter.process_request(send, ("sendMessage",), {}, "sendMessage", {"chat_id": 1}, None)
    second = limiter.process_request(
        send, ("sendMessage",), {}, "sendMessage", {"chat_id": 1}, None
    )
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(second, 0.2)
    assert sent == ["sendChatAction"] * 5 + ["sendMessage"]
    await limiter.shutdown()


async def test_retries_wait_at_most_the_capped_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    from telegram.error import NetworkError

    import bot.api

    waits: list[float] = []

    async def no_wait(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(bot.api.asyncio, "sleep", no_wait)
    limiter = FloodLimiter(retries=20)
    await limiter.initialize()

    async def down(endpoint: str) -> bool:
        raise NetworkError("Bad Gateway")

    with pytest.raises(NetworkError):
        await limiter.process_request(down, ("x",), {}, "sendMessage", {"chat_id": 1}, None)
    assert len(waits) == 20 and waits[:3] == [0.5, 1.0, 2.0]
    assert max(waits) == bot.api.MAX_BACKOFF <= 30  # not 0.5 * 2**19 s: three days
    await limiter.shutdown()


# --- per-chat state (pure) ----------------------------------------------------------------------------


def test_chat_history_keeps_last_turns_and_expires() -> None:
    now = [0.0]
    history = ChatHistory(turns=2, ttl=60, clock=lambda: now[0])
    for q in ["一", "二", "三"]:
        history.remember(1, q)
    assert history.recent(1) == ["二", "三"]
    assert history.recent(2) == []
    now[0] = 59
    assert history.recent(1) == ["二", "三"]
    history.remember(1, "四")
    now[0] = 59 + 61
    assert history.recent(1) == []
    history.remember(1, "五")
    assert history.recent(1) == ["五"]
    assert history.forget(1) and not history.forget(1)
    assert ChatHistory(turns=0, ttl=60).recent(1) == []


def test_chat_history_of_many_live_chats_is_not_swept_at_every_question() -> None:
    """Past 10,000 chats heard from within the TTL, each question swept them all for expired
    ones and found none: 0.6 ms a question at 20,000 chats, on the event loop. Sweeps are
    now as rare as the chats double, and expired chats still go."""
    now = [0.0]
    history = ChatHistory(turns=3, ttl=1800, clock=lambda: now[0])
    sweeps = 0
    for chat in range(20_000):  # 20,000 chats in 1,000 s, all within the TTL
        now[0] += 0.05
        before = history._chats
        history.remember(chat, "问题", chat + 1)
        sweeps += history._chats is not before  # a sweep makes the dict anew
    assert sweeps <= 2  # was 10,000
    assert history.recent(0) == ["问题"]  # none was live and forgotten
    now[0] += 3600  # all silent past the TTL: the next sweep forgets them
    for chat in range(20_000, 45_000):
        history.remember(chat, "问题", chat + 1)
    assert len(history._chats) <= 25_000


def test_limiter_and_presses_with_many_live_users_are_not_swept_at_every_call() -> None:
    """Past 10,000 users within the window, every question (and every press, and every
    notice) rebuilt the whole dict and found nothing stale: as ChatHistory did."""
    from bot.chat import Presses

    now = [0.0]
    limiter = QuestionLimiter(5, clock=lambda: now[0])
    presses = Presses(window=60, clock=lambda: now[0])
    sweeps = {"seen": 0, "noticed": 0, "presses": 0}
    for user in range(25_000):  # 25,000 users in 50 s, all within the window
        now[0] += 0.002
        before = (limiter._seen, limiter._noticed, presses._seen)
        assert limiter.allow(user) and limiter.notice_due(user, user)
        assert presses.first(("more", user))
        after = (limiter._seen, limiter._noticed, presses._seen)
        for name, old, new in zip(sweeps, before, after, strict=True):
            sweeps[name] += new is not old
    assert max(sweeps.values()) <= 2, sweeps  # were 15,000 each
    now[0] += 120  # all silent past the window: the next sweeps forget them
    for user in range(25_000, 60_000):
        limiter.allow(user)
        presses.first(("more", user))
    assert len(limiter._seen) <= 40_000 and len(presses._seen) <= 40_000


def test_question_limiter_sliding_window() -> None:
    now = [0.0]
    limiter = QuestionLimiter(2, clock=lambda: now[0])
    assert limiter.allow(1) and limiter.allow(1) and not limiter.allow(1)
    assert limiter.allow(2)
    now[0] = 30
    assert limiter.retry_after(1) == 30
    now[0] = 60
    assert limiter.allow(1)
    assert QuestionLimiter(0).allow(1)


def test_button_cache_and_callback_data() -> None:
    cache: ButtonCache[str] = ButtonCache(max_entries=2)
    a, b = cache.put("a"), cache.put("b")
    assert cache.get(a) == "a"
    c = cache.put("c")  # evicts b, the least recently used
    assert cache.get(b) is None and cache.get(a) == "a" and cache.get(c) == "c"
    data = Button("more", a, 12).data()
    assert len(data.encode()) <= 64
    assert Button.parse(data) == Button("more", a, 12)
    assert Button.parse(Button("src", a).data()) == Button("src", a)
    for junk in [
        None,
        "",
        "src:",
        "more:k",
        "more:k:x",
        "other:k",
        "more:k:²",
        "more:k:" + "9" * 20,
    ]:
        assert Button.parse(junk) is None  # forged: a digit that int() refuses, a huge offset
