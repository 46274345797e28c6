"""The LLM layer: one client for the embedded model and any OpenAI-compatible endpoint."""

from vt_core.llm.backend import Backend, resolve_backend
from vt_core.llm.client import (
    LLM,
    BatchError,
    ChatRequest,
    Completion,
    Estimate,
    LLMError,
    StructuredOutputError,
    Usage,
    estimate_tokens,
)
from vt_core.llm.embedded import EmbeddedServerError

__all__ = [
    "LLM", "Backend", "BatchError", "ChatRequest", "Completion", "EmbeddedServerError", "Estimate",
    "LLMError", "StructuredOutputError", "Usage", "estimate_tokens", "resolve_backend",
]
