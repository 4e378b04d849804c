"""Configuration, read once at the edge from the environment and `.env`."""

from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "feedqa"


class Settings(BaseSettings):
    """All settings of feedqa; see `.env.example` for what each one means."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True
    )

    feedqa_data_dir: Path = Field(default_factory=_default_data_dir)
    feedqa_feeds: Annotated[list[str], NoDecode] = Field(default_factory=list)
    feedqa_refresh_minutes: float = 30.0
    feedqa_min_confidence: float | None = None
    feedqa_history_turns: int = 3
    feedqa_history_ttl_minutes: float = 30.0
    feedqa_fetch_timeout_seconds: float = Field(default=20.0, gt=0)
    feedqa_fetch_deadline_seconds: float = Field(default=120.0, gt=0)
    feedqa_feed_max_mb: float = Field(default=20.0, gt=0)
    feedqa_lock_timeout_seconds: float = Field(default=60.0, ge=0)
    feedqa_engine_url: str | None = None
    feedqa_cluster_dir: Path | None = None

    telegram_bot_token: SecretStr | None = None
    telegram_api_base_url: str = "https://api.telegram.org/bot"
    telegram_admin_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    telegram_allowed_chat_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_webhook_listen: str = "127.0.0.1"
    telegram_webhook_port: int = 8443
    telegram_questions_per_minute: int = 20
    telegram_inline_queries_per_minute: int = 60
    telegram_api_timeout_seconds: float = Field(default=30.0, gt=0)
    telegram_send_retries: int = Field(default=4, ge=0)
    telegram_startup_retries: int = Field(default=8, ge=0)
    telegram_journal: bool = True

    @field_validator("feedqa_data_dir", "feedqa_cluster_dir")
    @classmethod
    def _expand_home(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value else value

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
            return [int(part) for part in value.replace(" ", ",").split(",") if part.strip()]
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
