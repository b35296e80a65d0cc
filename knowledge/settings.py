"""The one settings object: environment variables, optionally a `.env` file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

SAMPLE_KNOWLEDGE = Path(__file__).parent / "sample"
CURATED_FILE = "curated.yaml"  # staff-pinned answers at the top of a knowledge folder; ingest skips it
# A listing file larger than this gets one embedding view per row instead of three (see bench/ingest.py --views).
LEAN_LISTING_BYTES = 2 * 1024 * 1024
# A listing file larger than this gets one vector per group of rows (knowledge.groups): 200,000 rows' vectors alone
# took the ingest process past 600 MB (bench/ingest.py --limits).
GROUP_LISTING_BYTES = 4 * 1024 * 1024
MAX_SHRINK = 0.5  # share of the served chunks an ingest may drop before it must be told --allow-shrink


def _split_list(value: object) -> object:
    """Accept `a,b` or `a:b` from the environment as well as a real list."""
    if isinstance(value, str):
        parts = value.replace(";", ",").split(",")
        return [part.strip() for part in parts if part.strip()]
    if isinstance(value, int):
        return [value]
    return value


class Settings(BaseSettings):
    """Every knob of the assistant; see README for the table."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    data_dir: Path = Field(Path("data"), description="Where the embedded Chroma store and bot state live.")
    knowledge_sources: Annotated[list[Path], NoDecode] = Field(
        default_factory=lambda: [SAMPLE_KNOWLEDGE],
        description="Folders (or files) that `ingest.py` indexes, comma-separated.",
    )
    curated_answers: Path | None = Field(
        None,
        description="YAML file of curated answers (format: knowledge/sample/curated.yaml);"
        " unset: curated.yaml at the top of each KNOWLEDGE_SOURCES folder.",
    )
    listing_columns: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="Card columns of a listing file when the guess is wrong, as JSON: file name -> role (title, what,"
        " owner, where, fee, booking) -> column names, comma-separated.",
    )
    embedding_provider: Literal["local", "openai"] = Field(
        "local", description="`local`: the bundled multilingual model; `openai`: the embeddings API."
    )
    openai_api_key: SecretStr | None = Field(None, description="Key for the OpenAI(-compatible) API.")
    openai_base_url: str | None = Field(None, description="Base URL of an OpenAI-compatible server.")
    openai_model: str = Field("gpt-4.1-mini", description="Chat model that writes answers in LLM mode.")
    openai_embedding_model: str = Field(
        "text-embedding-3-small", description="Embedding model when EMBEDDING_PROVIDER=openai."
    )
    openai_timeout: float = Field(20.0, description="Seconds before an LLM call is abandoned.")
    llm_cross_language: bool = Field(
        True,
        description="In LLM mode, also search with the question translated into the knowledge base's other "
        "language (English <-> Chinese; one more LLM call per question), and answer from both searches' passages.",
    )
    chroma_host: str | None = Field(None, description="Chroma server host; unset means the embedded store.")
    chroma_port: int = Field(8000, description="Chroma server port.")
    database_url: SecretStr | None = Field(
        None,
        description="SQLAlchemy URL of the bot's shared state (postgresql+psycopg://...) for several replicas;"
        " unset: SQLite in DATA_DIR.",
    )
    collection_prefix: str = Field("goi", description="Prefix of the Chroma collections this bot owns.")
    index_suspicious: bool = Field(
        True,
        description="Index chunks that speak to an AI assistant ('ignore previous instructions…'); ingest lists them"
        " either way, and answers never quote them.",
    )
    ingest_max_shrink: float = Field(
        MAX_SHRINK,
        ge=0,
        le=1,
        description="Ingest refuses to publish an index with this share fewer chunks than the served one (an empty or"
        " unmounted folder would wipe the bot) unless run with --allow-shrink.",
    )
    ingest_lean_listing_bytes: int = Field(
        LEAN_LISTING_BYTES,
        ge=0,
        description="A listing file (CSV, XLSX, JSON, YAML) larger than this many bytes is embedded once per row"
        " instead of three ways (row, name, name with what it does), to ingest three times faster.",
    )
    notice_poll_seconds: float = Field(
        30.0,
        gt=0,
        description="How often the bot looks for a newly published index to match subscribed firm profiles against,"
        " for deadlines to remind, and for queued notices to send.",
    )
    reminder_days: list[int] = Field(
        [7, 1],
        description="Days before a matched application window closes that subscribed users are reminded (JSON list);"
        " a bot down past one sends the next only.",
    )
    notice_lease_seconds: float = Field(
        300.0,
        gt=0,
        description="A replica that claimed notices or a publish's matching and stopped for this long is taken over.",
    )
    telegram_bot_token: SecretStr | None = Field(None, description="Bot token from @BotFather.")
    telegram_base_url: str = Field(
        "https://api.telegram.org/bot", description="Bot API base URL; tests point it at a local server."
    )
    telegram_staff_chat_id: int | None = Field(
        None, description="Staff group chat that receives handoffs; unset: no handoff."
    )
    telegram_webhook_url: str | None = Field(None, description="Public HTTPS URL of the webhook; unset: long polling.")
    telegram_webhook_listen: str = Field("0.0.0.0", description="Address the webhook server binds to.")
    telegram_webhook_port: int = Field(8443, description="Port the webhook server listens on.")
    telegram_webhook_secret: SecretStr | None = Field(
        None, description="Secret Telegram sends in X-Telegram-Bot-Api-Secret-Token; required with a webhook."
    )
    telegram_max_question_chars: int = Field(1000, description="Longer questions are refused with a message.")
    telegram_flood_messages: int = Field(
        8, description="Messages one user may send per flood window before a polite stop."
    )
    telegram_flood_seconds: float = Field(60.0, description="Length of the per-user flood window, in seconds.")
    wecom_bot_id: str | None = Field(
        None, description="WeCom AI bot id (智能机器人 BotID); needed for long connection."
    )
    wecom_token: SecretStr | None = Field(None, description="Callback Token from the AI bot's API settings.")
    wecom_aes_key: SecretStr | None = Field(
        None, description="Callback EncodingAESKey (43 characters) from the AI bot's API settings."
    )
    wecom_secret: SecretStr | None = Field(
        None,
        description="AI bot Secret for long-connection mode; set with WECOM_BOT_ID to use it instead of callbacks.",
    )
    wecom_listen: str = Field("0.0.0.0", description="Address the WeCom callback server binds to.")
    wecom_port: int = Field(8090, description="Port the WeCom callback server listens on.")
    wecom_path: str = Field("/wecom", description="Path of the callback URL configured in WeCom.")
    wecom_long_connection_url: str = Field(
        "wss://openws.work.weixin.qq.com", description="WebSocket endpoint of WeCom's long-connection mode."
    )
    wecom_staff_webhook: SecretStr | None = Field(
        None,
        description="Message-push (群机器人) webhook URL of the WeCom staff group: hand-off notes are posted there;"
        " without it WeCom offers no 'talk to a person'.",
    )
    wecom_staff_chat_id: str | None = Field(
        None,
        description="chatid of that staff group (the AI bot is a member): messages there mentioning the bot with"
        " `#<hand-off number> <reply>` are relayed to the user.",
    )
    admin_user_ids: Annotated[list[int], NoDecode] = Field(
        default_factory=list, description="Telegram user ids allowed to run staff commands."
    )
    log_level: str = Field("INFO", description="Logging level.")
    log_format: Literal["text", "json"] = Field(
        "text", description="`text`: one readable line per event; `json`: one JSON object per line."
    )
    http_host: str = Field("127.0.0.1", description="Address of the HTTP server (/ask, /healthz, /readyz, /metrics).")
    http_port: int = Field(8080, description="Port of the HTTP server; the Telegram bot serves /healthz there too.")
    http_max_question_chars: int = Field(1000, description="Longer questions to POST /ask are refused with 400.")
    http_client_seconds: float = Field(
        10.0,
        gt=0,
        description="A client must send its request headers, and then its body, within this many seconds each (and"
        " an idle connection closes after it): slow partial requests cannot hold the server's connections.",
    )
    http_api_token: SecretStr | None = Field(
        None, description="When set, POST /ask needs `Authorization: Bearer <token>`; health and metrics stay open."
    )

    @field_validator("knowledge_sources", "admin_user_ids", mode="before")
    @classmethod
    def _lists_from_env(cls, value: object) -> object:
        return _split_list(value)

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> Self:
        # Without a secret anyone who learns the URL could inject updates.
        if self.telegram_webhook_url and self.telegram_webhook_secret is None:
            raise ValueError("TELEGRAM_WEBHOOK_SECRET is required when TELEGRAM_WEBHOOK_URL is set")
        return self

    @model_validator(mode="after")
    def _wecom_needs_keys(self) -> Self:
        # Half a WeCom configuration would start a callback server that refuses every message.
        if (self.wecom_token is None) != (self.wecom_aes_key is None):
            raise ValueError("WECOM_TOKEN and WECOM_AES_KEY are set together (both from the bot's API settings)")
        if self.wecom_aes_key is not None and len(self.wecom_aes_key.get_secret_value()) != 43:
            raise ValueError("WECOM_AES_KEY must be the 43-character EncodingAESKey")
        return self

    @property
    def wecom_configured(self) -> bool:
        """True when WeCom callback keys or long-connection credentials are set."""
        return self.wecom_token is not None or (self.wecom_bot_id is not None and self.wecom_secret is not None)

    @property
    def curated_files(self) -> list[Path]:
        """The curated answer files the bot reads: CURATED_ANSWERS, else each knowledge folder's curated.yaml."""
        if self.curated_answers is not None:
            return [self.curated_answers]
        return [source / CURATED_FILE for source in self.knowledge_sources if (source / CURATED_FILE).is_file()]

    @property
    def llm_enabled(self) -> bool:
        """True when an LLM endpoint is configured (a key, or a compatible server URL)."""
        return self.openai_api_key is not None or self.openai_base_url is not None


class SettingsError(Exception):
    """The environment or `.env` holds a setting the assistant cannot run with; the message names it."""


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Build the settings once per process; SettingsError names each setting that is wrong, in one line each."""
    try:
        return Settings()
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            name = "_".join(str(part) for part in error["loc"]).upper()
            message = str(error["msg"]).removeprefix("Value error, ")
            lines.append(f"{name}: {message}" if name else message)
        raise SettingsError("\n".join(lines)) from None
