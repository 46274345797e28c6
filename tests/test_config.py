"""Settings from the environment, and which backend they select."""

from pathlib import Path

import pytest

from vt_core.core.config import DEFAULT_DB_PATH, PROJECT_ROOT, ConfigError, Settings
from vt_core.core.llm import resolve_backend
from vt_core.core.llm.backend import OPENAI_DEFAULT_MODEL, OPENAI_URL
from vt_core.core.llm.embedded import DEMO_MODEL_FILE


def test_defaults_with_an_empty_environment():
    settings = Settings.from_env({})
    assert settings.db_path == DEFAULT_DB_PATH
    assert settings.db_path.parent == PROJECT_ROOT / "data"
    assert settings.concurrency == 8
    assert settings.response_format == "auto"
    assert settings.timeout_s == 120.0
    assert settings.attempts == 4
    assert settings.openai_base_url is None and settings.openai_api_key is None
    assert settings.model is None and settings.local_model is None


def test_values_are_read_and_blank_values_mean_unset(tmp_path):
    model_file = tmp_path / "m.gguf"
    model_file.write_bytes(b"GGUF")
    settings = Settings.from_env({
        "VT_DB_PATH": str(tmp_path / "x.duckdb"), "VT_CONCURRENCY": " 3 ", "VT_LLM_TIMEOUT": "2.5",
        "VT_LLM_ATTEMPTS": "2", "VT_RESPONSE_FORMAT": "json_object", "VT_LOCAL_MODEL": str(model_file),
        "VT_MODEL": "  ", "OPENAI_BASE_URL": "",
    })
    assert settings.db_path == tmp_path / "x.duckdb"
    assert (settings.concurrency, settings.timeout_s, settings.attempts) == (3, 2.5, 2)
    assert settings.response_format == "json_object"
    assert settings.local_model == model_file
    assert settings.model is None and settings.openai_base_url is None


@pytest.mark.parametrize("value", ["abc", "0", "-2", "1.5"])
def test_bad_concurrency_is_rejected_by_name(value):
    with pytest.raises(ConfigError, match="VT_CONCURRENCY") as caught:
        Settings.from_env({"VT_CONCURRENCY": value})
    assert repr(value) in str(caught.value)


@pytest.mark.parametrize(("name", "value"), [("VT_LLM_TIMEOUT", "soon"), ("VT_LLM_TIMEOUT", "0"),
                                             ("VT_LLM_ATTEMPTS", "0"), ("VT_LLM_ATTEMPTS", "x")])
def test_bad_llm_numbers_are_rejected_by_name(name, value):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


def test_invalid_response_format_is_rejected():
    with pytest.raises(ConfigError, match="VT_RESPONSE_FORMAT"):
        Settings.from_env({"VT_RESPONSE_FORMAT": "yaml"})


def test_local_model_must_be_an_existing_file(tmp_path):
    missing = tmp_path / "missing.gguf"
    with pytest.raises(ConfigError, match="VT_LOCAL_MODEL") as caught:
        Settings.from_env({"VT_LOCAL_MODEL": str(missing)})
    assert str(missing) in str(caught.value)
    with pytest.raises(ConfigError, match="VT_LOCAL_MODEL"):
        Settings.from_env({"VT_LOCAL_MODEL": str(tmp_path)})  # a folder is not a model file


def test_no_endpoint_selects_the_embedded_demo_model():
    backend = resolve_backend(Settings.from_env({}))
    assert backend.kind == "embedded"
    assert backend.demo is True
    assert backend.structured_format == "json_object"
    assert backend.base_url is None
    assert backend.model_path.name == DEMO_MODEL_FILE and backend.model_path.is_file()
    assert backend.model == Path(DEMO_MODEL_FILE).stem
    assert backend.identity == f"embedded:{DEMO_MODEL_FILE}"
    assert "toy" in backend.describe()


def test_a_local_model_file_is_embedded_but_not_the_demo(tmp_path):
    model_file = tmp_path / "mine.gguf"
    model_file.write_bytes(b"GGUF")
    backend = resolve_backend(Settings.from_env({"VT_LOCAL_MODEL": str(model_file),
                                                 "VT_RESPONSE_FORMAT": "none"}))
    assert (backend.kind, backend.demo, backend.model) == ("embedded", False, "mine")
    assert backend.structured_format == "none"


def test_api_key_alone_selects_openai():
    backend = resolve_backend(Settings.from_env({"OPENAI_API_KEY": "sk-test"}))
    assert backend.kind == "endpoint"
    assert backend.base_url == OPENAI_URL == "https://api.openai.com/v1"
    assert backend.model == OPENAI_DEFAULT_MODEL == "gpt-4o-mini"
    assert backend.structured_format == "json_schema"
    assert backend.api_key == "sk-test"
    assert backend.demo is False


def test_custom_base_url_without_model_leaves_the_model_to_the_endpoint():
    backend = resolve_backend(Settings.from_env({"OPENAI_BASE_URL": "http://127.0.0.1:9999/v1/"}))
    assert backend.kind == "endpoint"
    assert backend.base_url == "http://127.0.0.1:9999/v1"
    assert backend.model is None
    assert backend.api_key == "not-needed"
    assert backend.structured_format == "json_schema"
    assert "chosen from the ones it lists" in backend.describe()


def test_explicit_model_and_format_override_the_defaults():
    backend = resolve_backend(Settings.from_env({
        "OPENAI_BASE_URL": "http://127.0.0.1:9999/v1", "VT_MODEL": "llama", "VT_RESPONSE_FORMAT": "json_object",
    }))
    assert (backend.model, backend.structured_format) == ("llama", "json_object")
