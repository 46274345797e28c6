"""The Streamlit pages, headless through AppTest, against a scripted endpoint."""

import pytest
from streamlit.testing.v1 import AppTest

from tests.scripted_server import Reply, ScriptedServer

PAGES = [*(f"views/designer/{page}.py" for page in ("overview", "projects", "setup", "selfplay", "review", "patterns",
                                                    "refine", "playground")),
         *(f"views/researcher/{page}.py" for page in ("studies", "statistics", "critic", "settings")),
         "views/rater/rate.py"]


@pytest.fixture
def server(app_env):
    with ScriptedServer(Reply(content="ready")) as server:
        app_env(server.url)
        yield server


def test_every_page_renders(server):
    at = AppTest.from_file("../app.py", default_timeout=30).run()
    assert not at.exception
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception, page
        assert at.title, page


def test_settings_test_connection(server):
    at = AppTest.from_file("../app.py", default_timeout=30).run()
    at.switch_page("views/researcher/settings.py").run()
    assert not at.warning  # no demo notice: this is not the demo model
    at.button[0].click().run()
    assert not at.exception
    assert len(server.requests) == 1
    assert at.success[0].value.startswith(f"Connected to {server.url}")
    assert at.text[0].value == "Reply: ready"


def test_settings_shows_a_failed_connection(server):
    server.default = Reply(status=401)
    at = AppTest.from_file("../app.py", default_timeout=30).run()
    at.switch_page("views/researcher/settings.py").run()
    at.button[0].click().run()
    assert not at.exception
    assert "HTTP 401" in at.error[0].value


def test_bad_configuration_is_shown_not_raised(server, monkeypatch):
    monkeypatch.setenv("VT_CONCURRENCY", "0")
    at = AppTest.from_file("../app.py", default_timeout=30).run()
    assert not at.exception
    assert "VT_CONCURRENCY" in at.error[0].value
