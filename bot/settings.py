"""All configuration in one pydantic-settings class (environment variables and an optional .env file)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_KNOWLEDGE_DIR = REPO_ROOT / "knowledge"


def _env(name: str) -> AliasChoices:
    return AliasChoices(name, name.lower())


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    line_channel_secret: str | None = Field(default=None, validation_alias=_env("LINE_CHANNEL_SECRET"))
    # During a secret rotation LINE may still sign with the old secret for a while; both are accepted.
    line_channel_secret_previous: str | None = Field(
        default=None, validation_alias=_env("LINE_CHANNEL_SECRET_PREVIOUS")
    )
    line_channel_access_token: str | None = Field(default=None, validation_alias=_env("LINE_CHANNEL_ACCESS_TOKEN"))
    line_api_base_url: str = Field(default="https://api.line.me", validation_alias=_env("LINE_API_BASE_URL"))
    line_data_api_base_url: str = Field(
        default="https://api-data.line.me", validation_alias=_env("LINE_DATA_API_BASE_URL")
    )

    telegram_bot_token: str | None = Field(default=None, validation_alias=_env("TELEGRAM_BOT_TOKEN"))
    telegram_webhook_secret: str | None = Field(default=None, validation_alias=_env("TELEGRAM_WEBHOOK_SECRET"))
    telegram_api_base_url: str = Field(
        default="https://api.telegram.org/bot", validation_alias=_env("TELEGRAM_API_BASE_URL")
    )

    knowledge_dir: Path = Field(default=DEFAULT_KNOWLEDGE_DIR, validation_alias=_env("BUDGETBOT_KNOWLEDGE_DIR"))
    data_dir: Path = Field(default=REPO_ROOT / "data", validation_alias=_env("BUDGETBOT_DATA_DIR"))
    today: date | None = Field(default=None, validation_alias=_env("BUDGETBOT_TODAY"))
    database_url: str | None = Field(default=None, validation_alias=_env("BUDGETBOT_DATABASE_URL"))
    admin_token: str | None = Field(default=None, validation_alias=_env("BUDGETBOT_ADMIN_TOKEN"))
    # Salt for hashing user ids in the question log (PDPA): set it in production, keep it secret.
    user_hash_salt: str = Field(default="budgetbot-dev-salt", validation_alias=_env("BUDGETBOT_USER_HASH_SALT"))
    log_retention_days: int = Field(default=180, ge=1, validation_alias=_env("BUDGETBOT_LOG_RETENTION_DAYS"))
    conversation_ttl_minutes: int = Field(default=30, ge=1, validation_alias=_env("BUDGETBOT_CONVERSATION_TTL_MINUTES"))
    max_body_bytes: int = Field(default=1_000_000, ge=1024, validation_alias=_env("BUDGETBOT_MAX_BODY_BYTES"))
    watch_knowledge: bool = Field(default=True, validation_alias=_env("BUDGETBOT_WATCH_KNOWLEDGE"))
    log_level: str = Field(default="INFO", validation_alias=_env("BUDGETBOT_LOG_LEVEL"))
    # The particle that ends the assistant's Thai sentences (and so its first person: ดิฉัน / ผม / เรา).
    polite_particle: Literal["ค่ะ", "ครับ", "none"] = Field(
        default="ค่ะ", validation_alias=_env("BUDGETBOT_POLITE_PARTICLE")
    )

    @property
    def line_enabled(self) -> bool:
        return bool(self.line_channel_secret and self.line_channel_access_token)

    @property
    def telegram_enabled(self) -> bool:
        return bool(self.telegram_bot_token)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'budgetbot.sqlite3').as_posix()}"
