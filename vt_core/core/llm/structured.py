"""Structured output: ask each backend for JSON its own way, and parse replies tolerantly."""

from __future__ import annotations

import json
import re

from pydantic import BaseModel

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

    Raises pydantic.ValidationError when no valid object can be found.
    """
    fenced = _FENCE.search(text)
    candidate = fenced.group(1) if fenced else text
    start, end = candidate.find("{"), candidate.rfind("}")
    if start != -1 and end > start:
        candidate = candidate[start : end + 1]
    try:
        # strict=False lets raw newlines and tabs inside strings through, as small models write them
        data = json.loads(candidate.strip(), strict=False)
    except json.JSONDecodeError:
        return schema.model_validate_json(candidate.strip())  # raises a ValidationError saying why
    return schema.model_validate(data)
