"""Settings: one clear line for a bad value, sensible bounds on every number."""

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from bot.chat import ChatHistory
from bot.cli import cli
from bot.repl import Session
from bot.settings import Settings, describe_errors
from retrieval import Answer


@pytest.fixture(autouse=True)
def env(tmp_path, monkeypatch) -> None:
    """An isolated data and cache folder, and no `.env` in the working folder."""
    monkeypatch.setenv("FEEDQA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)


def config_error(monkeypatch, **variables: str) -> str:
    """The one line `feedqa ask` (`feedqa telegram` for bot settings) prints with these set."""
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    bot = all(name.startswith("TELEGRAM_") for name in variables)
    result = CliRunner().invoke(cli, ["telegram"] if bot else ["ask", "x"])
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    assert "pydantic" not in result.output.lower()
    return lines[0]


def test_invalid_setting_is_one_line_naming_the_variable(monkeypatch) -> None:
    line = config_error(monkeypatch, FEEDQA_HISTORY_TURNS="abc")
    assert line == (
        "Error: invalid configuration: FEEDQA_HISTORY_TURNS='abc': expected a whole number"
    )


def test_several_invalid_settings_share_the_line(monkeypatch) -> None:
    line = config_error(
        monkeypatch,
        FEEDQA_HISTORY_TURNS="abc",
        FEEDQA_MIN_CONFIDENCE="1.5",
        TELEGRAM_ADMIN_IDS="12,bob",
        TELEGRAM_JOURNAL="maybe",
    )
    assert "FEEDQA_HISTORY_TURNS='abc': expected a whole number" in line
    assert "FEEDQA_MIN_CONFIDENCE='1.5': expected at most 1" in line
    assert "TELEGRAM_ADMIN_IDS='bob': expected a whole number" in line
    assert "TELEGRAM_JOURNAL='maybe': expected true or false" in line


def test_a_bad_bot_setting_is_noted_but_does_not_stop_other_commands(monkeypatch) -> None:
    monkeypatch.setenv("TELEGRAM_ADMIN_IDS", "abc")
    monkeypatch.setenv("TELEGRAM_WEBHOOK_PORT", "0")
    result = CliRunner().invoke(cli, ["--bundled", "search", "京东科技"])
    assert result.exit_code == 0, result.output
    assert "京东" in result.stdout
    note = result.stderr.strip().splitlines()
    assert len(note) == 1, result.stderr
    assert "TELEGRAM_ADMIN_IDS='abc': expected a whole number" in note[0]
    assert "TELEGRAM_WEBHOOK_PORT='0'" in note[0]
    assert "ignored" in note[0]
    assert "Traceback" not in result.output


def test_a_bad_bot_setting_stops_the_bot(monkeypatch) -> None:
    monkeypatch.setenv("TELEGRAM_ADMIN_IDS", "abc")
    result = CliRunner().invoke(cli, ["telegram"])
    assert result.exit_code == 1
    assert result.output.strip() == (
        "Error: invalid configuration: TELEGRAM_ADMIN_IDS='abc': expected a whole number"
    )


def test_secrets_are_never_echoed(monkeypatch) -> None:
    line = config_error(
        monkeypatch, TELEGRAM_BOT_TOKEN="123:sekrit", FEEDQA_FETCH_TIMEOUT_SECONDS="-1"
    )
    assert "sekrit" not in line and "FEEDQA_FETCH_TIMEOUT_SECONDS='-1'" in line
    error = ValidationError.from_exception_data(
        "Settings",
        [
            {
                "type": "string_too_short",
                "loc": ("telegram_webhook_secret",),
                "input": "hush-hush",
                "ctx": {"min_length": 20},
            }
        ],
    )
    described = describe_errors(error)
    assert "hush-hush" not in described
    assert described.startswith("TELEGRAM_WEBHOOK_SECRET=<redacted>: ")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("FEEDQA_MIN_CONFIDENCE", "nan"),
        ("FEEDQA_MIN_CONFIDENCE", "inf"),
        ("FEEDQA_MIN_CONFIDENCE", "-0.1"),
        ("FEEDQA_MIN_CONFIDENCE", "1.5"),
        ("FEEDQA_HISTORY_TURNS", "-1"),
        ("FEEDQA_HISTORY_TURNS", "1000"),
        ("FEEDQA_HISTORY_TTL_MINUTES", "-1"),
        ("FEEDQA_REFRESH_MINUTES", "-5"),
        ("FEEDQA_REFRESH_MINUTES", "inf"),
        ("FEEDQA_FETCH_TIMEOUT_SECONDS", "0"),
        ("FEEDQA_FETCH_DEADLINE_SECONDS", "-1"),
        ("FEEDQA_FEED_MAX_MB", "-1"),
        ("FEEDQA_FEED_MAX_MB", "inf"),
        ("FEEDQA_LOCK_TIMEOUT_SECONDS", "-1"),
        ("TELEGRAM_QUESTIONS_PER_MINUTE", "-1"),
        ("TELEGRAM_INLINE_QUERIES_PER_MINUTE", "-1"),
        ("TELEGRAM_API_TIMEOUT_SECONDS", "-1"),
        ("TELEGRAM_SEND_RETRIES", "-1"),
        ("TELEGRAM_SEND_RETRIES", "1000"),
        ("TELEGRAM_STARTUP_RETRIES", "-1"),
        ("TELEGRAM_WEBHOOK_PORT", "0"),
        ("TELEGRAM_WEBHOOK_PORT", "70000"),
        ("TELEGRAM_ADMIN_IDS", "-100123"),
    ],
)
def test_out_of_range_settings_are_refused(monkeypatch, name: str, value: str) -> None:
    line = config_error(monkeypatch, **{name: value})
    assert f"{name}='{value}': expected " in line


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("FEEDQA_DATA_DIR", "~nosuchuser_feedqa/x", "FEEDQA_DATA_DIR='~nosuchuser_feedqa/x': "),
        ("FEEDQA_DATA_DIR", "   ", "FEEDQA_DATA_DIR='   ': "),
        ("FEEDQA_ENGINE_URL", "sphinx://127.0.0.1:99999/x", "not a search engine URL"),
        ("FEEDQA_ENGINE_URL", "sphinx://[::1/x", "not a search engine URL"),
    ],
)
def test_a_path_or_address_that_cannot_be_one_is_refused(
    monkeypatch, name: str, value: str, expected: str
) -> None:
    assert expected in config_error(monkeypatch, **{name: value})


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("TELEGRAM_WEBHOOK_SECRET", "bad secret!", "TELEGRAM_WEBHOOK_SECRET=<redacted>: "),
        ("TELEGRAM_WEBHOOK_SECRET", "x" * 257, "TELEGRAM_WEBHOOK_SECRET=<redacted>: "),
        ("TELEGRAM_WEBHOOK_URL", "http://bot.example.com/hook", "an https URL"),
    ],
)
def test_webhook_settings_telegram_would_refuse_are_refused_first(
    monkeypatch, name: str, value: str, expected: str
) -> None:
    line = config_error(monkeypatch, **{name: value})
    assert expected in line and "bad secret" not in line


@pytest.mark.parametrize("blank", ["", " "])
def test_an_empty_index_option_is_refused(tmp_path, blank: str) -> None:
    result = CliRunner().invoke(cli, ["--index", blank, "ingest"])
    assert result.exit_code == 2 and "empty" in result.output
    assert list(tmp_path.iterdir()) == [], "nothing is made in the working folder"


def test_the_bounds_themselves_are_accepted(monkeypatch) -> None:
    for name, value in {
        "FEEDQA_MIN_CONFIDENCE": "0",
        "FEEDQA_HISTORY_TURNS": "0",
        "FEEDQA_REFRESH_MINUTES": "0",
        "FEEDQA_LOCK_TIMEOUT_SECONDS": "0",
        "TELEGRAM_QUESTIONS_PER_MINUTE": "0",
        "TELEGRAM_SEND_RETRIES": "0",
        "TELEGRAM_WEBHOOK_PORT": "65535",
    }.items():
        monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None)
    assert settings.feedqa_history_turns == 0 and settings.feedqa_min_confidence == 0
    assert Settings(_env_file=None, feedqa_min_confidence=1).feedqa_min_confidence == 1


class Recorder:
    """A retriever that abstains and records the history it was given."""

    def __init__(self) -> None:
        self.histories: list[list[str]] = []

    def refresh(self) -> bool:
        return False

    def ask(self, question: str, history: list[str], k: int = 3) -> Answer:
        self.histories.append(list(history))
        return Answer(question=question, answered=False, text="")


def test_repl_with_zero_turns_keeps_no_history() -> None:
    retriever = Recorder()
    session = Session(retriever, turns=0)  # type: ignore[arg-type]
    for question in ("第一个问题", "第二个问题", "第三个问题"):
        session.handle(question)
    assert retriever.histories == [[], [], []]
    assert session.history == []


def test_repl_keeps_the_last_turns() -> None:
    retriever = Recorder()
    session = Session(retriever, turns=2)  # type: ignore[arg-type]
    for question in ("一", "二", "三"):
        session.handle(question)
    assert retriever.histories == [[], ["一"], ["一", "二"]]


def test_bot_history_with_zero_turns_keeps_nothing() -> None:
    history = ChatHistory(0, ttl=60)
    history.remember(1, "第一个问题")
    assert history.recent(1) == []
