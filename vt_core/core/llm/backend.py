"""Which server the platform talks to, decided once from the settings.

Every backend is reached through the `openai` client: an OpenAI-compatible endpoint when
OPENAI_BASE_URL or OPENAI_API_KEY is set, otherwise the embedded llama.cpp server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from vt_core.core.config import Settings
from vt_core.core.llm.embedded import demo_model_path, embedded_server

OPENAI_URL = "https://api.openai.com/v1"
OPENAI_DEFAULT_MODEL = "gpt-4o-mini"


@dataclass(frozen=True)
class Backend:
    kind: str  # "embedded" or "endpoint"
    model: str | None  # None: the first model the endpoint lists
    api_key: str = field(repr=False)  # a secret: in no repr, log line or error
    structured_format: str  # "json_schema", "json_object" or "none"
    base_url: str | None = None  # endpoint only; the embedded server's URL is known once it runs
    model_path: Path | None = None  # embedded only
    demo: bool = False  # the bundled toy model, whose output is meaningless

    @property
    def identity(self) -> str:
        """What the cache keys on: stable across restarts of the embedded server."""
        return f"embedded:{self.model_path.name}" if self.kind == "embedded" else self.base_url

    def url(self) -> str:
        """The base URL to send requests to, starting the embedded server if needed."""
        if self.kind == "embedded":
            return embedded_server(self.model_path).base_url
        return self.base_url

    def describe(self) -> str:
        if self.demo:
            return f"embedded demo model {self.model} (SmolLM2-135M, toy quality)"
        if self.kind == "embedded":
            return f"embedded local model {self.model}"
        return f"endpoint {self.base_url}, model {self.model or 'chosen from the ones it lists'}"


def resolve_backend(settings: Settings) -> Backend:
    if settings.openai_base_url or settings.openai_api_key:
        base_url = (settings.openai_base_url or OPENAI_URL).rstrip("/")
        model = settings.model or (OPENAI_DEFAULT_MODEL if base_url == OPENAI_URL else None)
        fmt = "json_schema" if settings.response_format == "auto" else settings.response_format
        return Backend(
            kind="endpoint",
            base_url=base_url,
            model=model,
            # Local servers (vLLM, Ollama, llama.cpp) accept any key; the client insists on one.
            api_key=settings.openai_api_key or "not-needed",
            structured_format=fmt,
        )
    model_path = settings.local_model or demo_model_path()
    fmt = "json_object" if settings.response_format == "auto" else settings.response_format
    return Backend(
        kind="embedded",
        model=model_path.stem,
        api_key="embedded",
        structured_format=fmt,
        model_path=model_path,
        demo=settings.local_model is None,
    )
