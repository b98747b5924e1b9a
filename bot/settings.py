"""All configuration in one pydantic-settings class (environment variables and an optional .env file)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.privacy import DEV_SALT

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_KNOWLEDGE_DIR = REPO_ROOT / "knowledge"
DEFAULT_SOURCES_DIR = REPO_ROOT.parent / "shared" / "sources"  # ../shared/sources beside the checkout


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
    # The source documents the knowledge cites (each source's `file`): a cited file missing here is an error at
    # start-up, on reload and for `budgetbot kb check`.
    sources_dir: Path = Field(default=DEFAULT_SOURCES_DIR, validation_alias=_env("BUDGETBOT_SOURCES_DIR"))
    data_dir: Path = Field(default=REPO_ROOT / "data", validation_alias=_env("BUDGETBOT_DATA_DIR"))
    today: date | None = Field(default=None, validation_alias=_env("BUDGETBOT_TODAY"))
    database_url: str | None = Field(default=None, validation_alias=_env("BUDGETBOT_DATABASE_URL"))
    admin_token: str | None = Field(default=None, validation_alias=_env("BUDGETBOT_ADMIN_TOKEN"))
    # Key for the hashes that stand for user ids in storage and logs (PDPA): required once a chat channel is on.
    user_hash_salt: str = Field(default=DEV_SALT, min_length=1, validation_alias=_env("BUDGETBOT_USER_HASH_SALT"))
    # `budgetbot review` and /admin/review read at most this many distinct wordings, the most recently asked.
    review_max_rows: int = Field(default=20_000, ge=1, validation_alias=_env("BUDGETBOT_REVIEW_MAX_ROWS"))
    log_retention_days: int = Field(default=180, ge=1, validation_alias=_env("BUDGETBOT_LOG_RETENTION_DAYS"))
    conversation_ttl_minutes: int = Field(default=30, ge=1, validation_alias=_env("BUDGETBOT_CONVERSATION_TTL_MINUTES"))
    max_body_bytes: int = Field(default=1_000_000, ge=1024, validation_alias=_env("BUDGETBOT_MAX_BODY_BYTES"))
    watch_knowledge: bool = Field(default=True, validation_alias=_env("BUDGETBOT_WATCH_KNOWLEDGE"))
    log_level: str = Field(default="INFO", validation_alias=_env("BUDGETBOT_LOG_LEVEL"))
    # text: readable lines in Bangkok time; json: one object a line; auto: text on a terminal, else json.
    log_format: Literal["auto", "text", "json"] = Field(default="auto", validation_alias=_env("BUDGETBOT_LOG_FORMAT"))
    # The message pipeline (handlers/pipeline/): seconds. Older events are acknowledged and not answered; a reply
    # token counts as fresh this long from its event's timestamp; an undelivered message is given up after this.
    max_event_age: int = Field(default=86_400, ge=60, validation_alias=_env("BUDGETBOT_MAX_EVENT_AGE"))
    reply_token_seconds: float = Field(
        default=25.0, gt=0, le=60, validation_alias=_env("BUDGETBOT_REPLY_TOKEN_SECONDS")
    )
    delivery_deadline: int = Field(default=86_400, ge=1, validation_alias=_env("BUDGETBOT_DELIVERY_DEADLINE"))
    # Notifications (issue 11): a reminder to the subscribers of a fiscal year this many days before its closing date.
    reminder_days: str = Field(default="7,1", validation_alias=_env("BUDGETBOT_REMINDER_DAYS"))
    # A LINE multicast held because the month's quota is full is looked at again this often (seconds); it waits
    # for the quota, whatever its delivery deadline.
    quota_recheck_seconds: float = Field(
        default=300.0, gt=0, le=86_400, validation_alias=_env("BUDGETBOT_QUOTA_RECHECK_SECONDS")
    )
    # The particle that ends the assistant's Thai sentences (and so its first person: ดิฉัน / ผม / เรา).
    polite_particle: Literal["ค่ะ", "ครับ", "none"] = Field(
        default="ค่ะ", validation_alias=_env("BUDGETBOT_POLITE_PARTICLE")
    )

    # The HTTP edge. /docs, /redoc and /openapi.json list every route, admin ones included: off by default.
    api_docs: bool = Field(default=False, validation_alias=_env("BUDGETBOT_API_DOCS"))
    # Addresses (or CIDR ranges), comma-separated, whose X-Forwarded-For is believed: the reverse proxy.
    trusted_proxies: str = Field(default="127.0.0.1", validation_alias=_env("BUDGETBOT_TRUSTED_PROXIES"))
    # POST /api/ask requests a minute, per client address and per console session (429 past them).
    ask_rate_per_client: int = Field(default=60, ge=1, validation_alias=_env("BUDGETBOT_ASK_RATE_PER_CLIENT"))
    ask_rate_per_session: int = Field(default=20, ge=1, validation_alias=_env("BUDGETBOT_ASK_RATE_PER_SESSION"))
    # Limits the server itself enforces on every connection (see handlers/http_edge.py).
    max_header_bytes: int = Field(default=16_384, ge=1024, validation_alias=_env("BUDGETBOT_MAX_HEADER_BYTES"))
    request_timeout: float = Field(default=10.0, gt=0, validation_alias=_env("BUDGETBOT_REQUEST_TIMEOUT"))
    keepalive_timeout: float = Field(default=5.0, gt=0, validation_alias=_env("BUDGETBOT_KEEPALIVE_TIMEOUT"))
    max_connections: int = Field(default=1000, ge=10, validation_alias=_env("BUDGETBOT_MAX_CONNECTIONS"))

    @field_validator("reminder_days")
    @classmethod
    def _reminder_days(cls, value: str) -> str:
        parse_reminder_days(value)  # raises ValueError with what is wrong
        return value

    @property
    def reminder_day_list(self) -> tuple[int, ...]:
        """BUDGETBOT_REMINDER_DAYS as numbers, largest first (empty: no reminders)."""
        return parse_reminder_days(self.reminder_days)

    @property
    def line_enabled(self) -> bool:
        return bool(self.line_channel_secret and self.line_channel_access_token)

    @property
    def telegram_enabled(self) -> bool:
        return bool(self.telegram_bot_token)

    @property
    def default_salt(self) -> bool:
        """True when BUDGETBOT_USER_HASH_SALT is unset (or set to the published development value)."""
        return self.user_hash_salt == DEV_SALT

    @property
    def trusted_proxy_list(self) -> list[str]:
        return [p.strip() for p in self.trusted_proxies.split(",") if p.strip()]

    def startup_problems(self) -> list[str]:
        """Settings the server must refuse to start with, each said in words with what to set."""
        problems: list[str] = []
        if (self.line_enabled or self.telegram_enabled) and self.default_salt:
            problems.append(
                "BUDGETBOT_USER_HASH_SALT is not set. With a chat channel on, user ids are stored and logged only "
                "as keyed hashes (Thailand's PDPA), and the key must be secret: set BUDGETBOT_USER_HASH_SALT to a "
                "long random value, e.g. the output of `python3 -c 'import secrets; print(secrets.token_hex(32))'`, "
                "and keep it the same across restarts and instances."
            )
        return problems

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'budgetbot.sqlite3').as_posix()}"


def settings_problems(exc: ValidationError) -> list[str]:
    """Each invalid setting in words, named by its environment variable (for a one-line refusal, no traceback)."""
    out: list[str] = []
    for err in exc.errors():
        field = str(err["loc"][0]) if err["loc"] else ""
        info = Settings.model_fields.get(field)
        alias = info.validation_alias if info is not None else None
        name = alias.choices[0] if isinstance(alias, AliasChoices) else field.upper()
        out.append(f"{name}: {err['msg']} (got {err.get('input')!r})")
    return out


def parse_reminder_days(text: str) -> tuple[int, ...]:
    """BUDGETBOT_REMINDER_DAYS ("7,1"): whole days before the closing date, each 0-366; "" or "none": none."""
    text = text.strip()
    if not text or text.lower() == "none":
        return ()
    days: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit() or not 0 <= int(part) <= 366:
            raise ValueError(f"{part!r} is not a number of days (0-366)")
        days.append(int(part))
    return tuple(sorted(set(days), reverse=True))
