"""Structured output: ask each backend for JSON its own way, and parse replies tolerantly."""

from __future__ import annotations

import json
import re

from pydantic import BaseModel, ValidationError

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


def response_format(schema: type[BaseModel], structured_format: str) -> dict | None:
    """The `response_format` request field for a backend.

    OpenAI and vLLM take `json_schema`; llama-cpp-python's server rejects that with HTTP 500
    but constrains decoding to a schema given inside `json_object`.
    """
    json_schema = schema.model_json_schema()
    if structured_format == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": schema.__name__, "schema": json_schema}}
    if structured_format == "json_object":
        return {"type": "json_object", "schema": json_schema}
    return None


def parse_reply(text: str, schema: type[BaseModel]) -> BaseModel:
    """Validate a reply against `schema`, tolerating code fences and prose around the JSON.

    The whole reply is tried before the inside of its first code fence: a fence may also sit
    inside one of the JSON's strings (a prompt with a code block in it). Raises
    pydantic.ValidationError, the first attempt's, when no valid object can be found.
    """
    fenced = _FENCE.search(text)
    first_error = None
    for candidate in (text, fenced.group(1)) if fenced else (text,):
        start, end = candidate.find("{"), candidate.rfind("}")
        if start != -1 and end > start:
            candidate = candidate[start : end + 1]
        try:
            # strict=False lets raw newlines and tabs inside strings through, as small models write them
            return schema.model_validate(json.loads(candidate.strip(), strict=False))
        except json.JSONDecodeError:
            error = _validation_error(schema, candidate)
        except ValidationError as exc:
            error = exc
        first_error = first_error or error
    raise first_error


def _validation_error(schema: type[BaseModel], text: str) -> ValidationError:
    """pydantic's own account of why `text` is not valid JSON for `schema`."""
    try:
        schema.model_validate_json(text.strip())
    except ValidationError as exc:
        return exc
    raise AssertionError("json rejected text that pydantic accepts")  # pragma: no cover
