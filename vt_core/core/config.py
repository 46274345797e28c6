"""Settings, read once from the environment. README.md lists every variable."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from vt_core.core.store.postgres import is_url

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DB_PATH = PROJECT_ROOT / "data" / "vt.duckdb"
DEFAULT_WORKERS = 2


class ConfigError(ValueError):
    """An environment variable holds a value the platform cannot use."""


@dataclass(frozen=True)
class Settings:
    db_path: Path  # the DuckDB file, and the folder of the server's local files (the link cookie key)
    database_url: str | None = field(repr=False)  # PostgreSQL instead of the file; holds a password
    openai_base_url: str | None
    openai_api_key: str | None = field(repr=False)  # a secret: in no repr, log line or error
    model: str | None
    local_model: Path | None
    concurrency: int
    timeout_s: float
    attempts: int
    response_format: str  # "auto", "json_schema", "json_object" or "none"
    workers: int = DEFAULT_WORKERS  # threads that run jobs in the server process (VT_WORKERS; 0: none)
    public_url: str | None = None  # the address raters reach this app at (VT_PUBLIC_URL), for study links
    prolific_token: str | None = field(default=None, repr=False)  # PROLIFIC_TOKEN, a secret; None: no Prolific API
    prolific_api_url: str | None = None  # PROLIFIC_API_URL: another base URL than Prolific's (a test server)

    @property
    def database(self) -> str:
        """Where the store lives: VT_DATABASE_URL when set, else the DuckDB file (for `Store`)."""
        return self.database_url or str(self.db_path)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env

        def text(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        def number(name: str, default: float, kind: type = int, minimum: float = 1) -> float:
            raw = text(name)
            if raw is None:
                return default
            try:
                value = kind(raw)
            except ValueError:
                raise ConfigError(f"{name}={raw!r} is not a {kind.__name__}") from None
            if value < minimum:
                raise ConfigError(f"{name}={raw!r} must be at least {minimum}")
            return value

        response_format = text("VT_RESPONSE_FORMAT") or "auto"
        if response_format not in ("auto", "json_schema", "json_object", "none"):
            raise ConfigError(
                f"VT_RESPONSE_FORMAT={response_format!r} must be auto, json_schema, json_object or none"
            )
        database_url = text("VT_DATABASE_URL")
        if database_url and not is_url(database_url):
            raise ConfigError("VT_DATABASE_URL must be a postgresql:// URL (without it, VT_DB_PATH names a DuckDB file)")
        workers = int(number("VT_WORKERS", DEFAULT_WORKERS, minimum=0))
        if workers == 0 and not database_url:
            raise ConfigError("VT_WORKERS=0 leaves the jobs to `python -m vt_core worker` processes, which share "
                              "the database only on PostgreSQL: set VT_DATABASE_URL too")
        public_url = text("VT_PUBLIC_URL")
        if public_url and not public_url.startswith(("http://", "https://")):
            raise ConfigError(f"VT_PUBLIC_URL={public_url!r} must be the http:// or https:// address raters open")
        local_model = text("VT_LOCAL_MODEL")
        if local_model and not Path(local_model).is_file():
            raise ConfigError(f"VT_LOCAL_MODEL={local_model!r} is not a file")
        return cls(
            db_path=Path(text("VT_DB_PATH") or DEFAULT_DB_PATH),
            database_url=database_url,
            openai_base_url=text("OPENAI_BASE_URL"),
            openai_api_key=text("OPENAI_API_KEY"),
            model=text("VT_MODEL"),
            local_model=Path(local_model) if local_model else None,
            concurrency=int(number("VT_CONCURRENCY", 8)),
            timeout_s=number("VT_LLM_TIMEOUT", 120.0, float, 0.1),
            attempts=int(number("VT_LLM_ATTEMPTS", 4)),
            response_format=response_format,
            workers=workers,
            public_url=public_url,
            prolific_token=text("PROLIFIC_TOKEN"),
            prolific_api_url=text("PROLIFIC_API_URL"),
        )
