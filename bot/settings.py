"""Configuration, read once at the edge from the environment and `.env`."""

import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Self, get_args

from pydantic import Field, PositiveInt, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .redact import RedactSecrets, token_secrets

WEEK_MINUTES = 7 * 24 * 60

EXPECTED = {
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "int_type": "a whole number",
    "float_parsing": "a number",
    "float_type": "a number",
    "finite_number": "a finite number",
    "bool_parsing": "true or false",
    "greater_than": "more than {gt:g}",
    "greater_than_equal": "at least {ge:g}",
    "less_than": "less than {lt:g}",
    "less_than_equal": "at most {le:g}",
}
"""What a setting should be, in words, by pydantic error type (formatted with its ctx)."""


def _default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "feedqa"


class Settings(BaseSettings):
    """All settings of feedqa; see `.env.example` for what each one means."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        env_ignore_empty=True,
        allow_inf_nan=False,
    )

    feedqa_data_dir: Path = Field(default_factory=_default_data_dir)
    feedqa_feeds: Annotated[list[str], NoDecode] = Field(default_factory=list)
    feedqa_refresh_minutes: float = Field(default=30.0, ge=0, le=WEEK_MINUTES)  # 0: never
    feedqa_min_confidence: float | None = Field(default=None, ge=0, le=1)
    feedqa_history_turns: int = Field(default=3, ge=0, le=20)  # 0: no follow-ups
    feedqa_history_ttl_minutes: float = Field(default=30.0, ge=0, le=WEEK_MINUTES)
    feedqa_fetch_timeout_seconds: float = Field(default=20.0, gt=0, le=3600)
    feedqa_fetch_deadline_seconds: float = Field(default=120.0, gt=0, le=3600)
    feedqa_feed_max_mb: float = Field(default=20.0, gt=0, le=1000)
    feedqa_lock_timeout_seconds: float = Field(default=60.0, ge=0, le=3600)
    feedqa_engine_url: str | None = None
    feedqa_cluster_dir: Path | None = None

    telegram_bot_token: SecretStr | None = None
    telegram_api_base_url: str = "https://api.telegram.org/bot"
    telegram_admin_ids: Annotated[list[PositiveInt], NoDecode] = Field(default_factory=list)
    telegram_allowed_chat_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_webhook_listen: str = "127.0.0.1"
    telegram_webhook_port: int = Field(default=8443, ge=1, le=65535)
    telegram_questions_per_minute: int = Field(default=20, ge=0, le=1000)  # 0: no limit
    telegram_inline_queries_per_minute: int = Field(default=60, ge=0, le=1000)  # 0: no limit
    telegram_api_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    telegram_send_retries: int = Field(default=4, ge=0, le=20)
    telegram_startup_retries: int = Field(default=8, ge=0, le=100)
    telegram_journal: bool = True

    @classmethod
    def load(cls, *, bot_only: Callable[[str], None] | None = None) -> Self:
        """The settings from the environment and `.env`; a one-line ValueError if invalid.

        With `bot_only`, bad values of only the bot's settings (TELEGRAM_*) are not an error:
        they are described to `bot_only` and left at their defaults.
        """
        try:
            return cls()
        except UnicodeDecodeError as exc:  # a .env an editor saved as GBK, say
            env_file = cls.model_config.get("env_file")
            raise ValueError(
                f"{env_file} is not UTF-8 text (byte {exc.start}: {exc.reason}); save it as UTF-8"
            ) from None
        except ValidationError as exc:
            names = {str(error["loc"][0]) if error["loc"] else "" for error in exc.errors()}
            described = describe_errors(exc, _secrets())  # a URL may hold the token
            if bot_only is None or not all(name.startswith("telegram_") for name in names):
                raise ValueError(described) from None  # its inputs may hold secrets
            bot_only(described)
        fields = cls.model_fields
        return cls(**{name: fields[name].get_default(call_default_factory=True) for name in names})

    @field_validator("feedqa_data_dir", "feedqa_cluster_dir")
    @classmethod
    def _expand_home(cls, value: Path | None) -> Path | None:
        if value is None:
            return value
        if not str(value).strip():
            raise ValueError("expected a folder, not a blank path")
        try:
            return value.expanduser()
        except RuntimeError as exc:  # ~someone who has no account here
            raise ValueError(f"no such user for ~ ({str(exc).rstrip('.').lower()})") from None

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _telegram_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.fullmatch(
            r"[A-Za-z0-9_-]{1,256}", value.get_secret_value()
        ):
            raise ValueError("expected 1 to 256 letters, digits, _ or - (what Telegram accepts)")
        return value

    @field_validator("telegram_webhook_url")
    @classmethod
    def _https(cls, value: str | None) -> str | None:
        if value is not None and not value.lower().startswith("https://"):
            raise ValueError("expected an https URL (Telegram posts updates only to https)")
        return value

    @field_validator("feedqa_feeds", mode="before")
    @classmethod
    def _split_feeds(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.replace("\n", ",").split(",") if part.strip()]
        return value

    @field_validator("telegram_admin_ids", "telegram_allowed_chat_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.replace(" ", ",").split(",") if part.strip()]
        if isinstance(value, int):
            return [value]
        return value

    @property
    def index_dir(self) -> Path:
        """Where the user's index lives."""
        return self.feedqa_data_dir / "index"

    @property
    def journal_path(self) -> Path:
        """Where the bot keeps the updates it accepted but has not answered yet."""
        return self.feedqa_data_dir / "telegram-journal.jsonl"

    def feed_limits(self) -> dict[str, float | int]:
        """The keyword arguments of `corpus.load_feed` that limit reading one feed."""
        return {
            "timeout": self.feedqa_fetch_timeout_seconds,
            "deadline": self.feedqa_fetch_deadline_seconds,
            "max_bytes": int(self.feedqa_feed_max_mb * 1_000_000),
        }

    @property
    def cluster_dir(self) -> Path:
        """Where `feedqa cluster` keeps the local cluster's configs and shards."""
        return self.feedqa_cluster_dir or self.feedqa_data_dir / "cluster"


class _Secrets(BaseSettings):
    """Only the secret settings, read as `Settings` reads them (any value is accepted)."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True
    )

    telegram_bot_token: str = ""
    telegram_webhook_secret: str = ""


def _secrets() -> list[str]:
    """The raw values of the secret settings, to keep them out of error messages."""
    try:
        found = _Secrets()
    except Exception:  # noqa: BLE001 (what made the settings fail may fail here too)
        return []
    return [*token_secrets(found.telegram_bot_token.strip()), found.telegram_webhook_secret.strip()]


def describe_errors(exc: ValidationError, secrets: Iterable[str] = ()) -> str:
    """pydantic's errors as one line, `NAME='value': expected …` each; secrets redacted
    (the secret settings' own values, and `secrets` wherever another value quotes them)."""
    problems = []
    for error in exc.errors(include_url=False):
        name = str(error["loc"][0]) if error["loc"] else ""
        field = Settings.model_fields.get(name)
        secret = field is not None and SecretStr in (field.annotation, *get_args(field.annotation))
        value = "<redacted>" if secret else repr(error["input"])
        template = EXPECTED.get(error["type"])
        if template:
            problem = f"expected {template.format(**error.get('ctx', {}))}"
        elif error["type"] == "value_error":  # a validator's own message
            problem = str(error["ctx"]["error"])
        else:
            problem = error["msg"][:1].lower() + error["msg"][1:]
        problems.append(f"{name.upper()}={value}: {problem}" if name else problem)
    return RedactSecrets(secrets).scrub("; ".join(problems))
