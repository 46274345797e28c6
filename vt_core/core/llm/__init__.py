"""The LLM layer: one client for the embedded model and any OpenAI-compatible endpoint."""

from vt_core.core.llm.backend import Backend, resolve_backend
from vt_core.core.llm.calls import Call, get_call, list_calls, prune_calls
from vt_core.core.llm.client import (
    LLM,
    BatchError,
    ChatRequest,
    Completion,
    Estimate,
    LLMError,
    StructuredOutputError,
    Usage,
    estimate_tokens,
    run_usage,
)
from vt_core.core.llm.embedded import EmbeddedServerError
from vt_core.core.llm.structured import response_format

__all__ = [
    "LLM", "Backend", "BatchError", "Call", "ChatRequest", "Completion", "EmbeddedServerError", "Estimate",
    "LLMError", "StructuredOutputError", "Usage", "estimate_tokens", "get_call", "list_calls", "prune_calls",
    "resolve_backend", "response_format", "run_usage",
]
