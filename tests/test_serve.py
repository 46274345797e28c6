"""One study served by two app processes behind HAProxy on one PostgreSQL database (scripts/serve.sh), with
a worker process: simulated raters drive the real servers through the proxy over Streamlit's websocket
protocol, each held on its process by the proxy's sticky cookie, as a browser is."""

from __future__ import annotations

import os
import signal
from concurrent.futures import ThreadPoolExecutor

import pytest

from bench.rater_load import CODE, ITEMS_PER_RATER, Rater, check_ratings, make_study, visit
from tests.browser import served
from tests.test_cli import cli
from vt_core.core.store import Store

RATERS = 8


@pytest.fixture
def cluster(tmp_path, postgres_url):
    store = Store(postgres_url)
    token, checks = make_study(store, RATERS)
    secrets = tmp_path / "secrets.toml"  # requests through a proxy come from the network: a login is needed
    secrets.write_text('[staff]\npassword = "serve-s3cret-phrase"\nbehind_proxy = true\n')
    env = {"VT_DATABASE_URL": postgres_url, "STREAMLIT_SECRETS_FILES": str(secrets),
           "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}
    with served(tmp_path, env, replicas=2, workers=1) as serving:
        yield store, serving, token, checks
    store.close()


def on(process: int) -> str:
    return f"VT_SERVER=app{process}"  # the cookie HAProxy gave a browser it sent to that process


def test_raters_split_across_two_processes_lose_nothing_and_never_exceed_k(cluster, postgres_url, tmp_path):
    """Every acknowledged rating stored, none twice, no item over k; and the CLI reads the study meanwhile."""
    store, serving, token, checks = cluster
    raters = [Rater(serving.url, token, i, checks, cookie=on(1 + i % 2)) for i in range(RATERS)]
    errors: list[str] = []
    with ThreadPoolExecutor(RATERS) as pool:
        completed = list(pool.map(lambda rater: visit(rater, 0.05, errors), raters))
    assert errors == [] and all(completed)
    assert [rater.served_by for rater in raters] == [f"app{1 + i % 2}" for i in range(RATERS)]
    assert [rater.code for rater in raters] == [CODE] * RATERS
    assert check_ratings(store, raters) == {"acknowledged": RATERS * ITEMS_PER_RATER,
                                            "stored": RATERS * ITEMS_PER_RATER,
                                            "lost": 0, "duplicates": 0, "k_violations": 0}
    monitor = cli(["study", "monitor", "load"], {"VT_DATABASE_URL": postgres_url}, tmp_path)  # while they serve
    assert monitor.returncode == 0, monitor.stderr
    assert f"human raters: {RATERS} started, 0 rating, {RATERS} completed" in monitor.stdout


def test_raters_of_a_killed_process_go_on_from_another_after_a_reload(cluster):
    store, serving, token, checks = cluster
    raters = [Rater(serving.url, token, i, checks, cookie=on(1 + i % 2)) for i in range(RATERS)]
    for rater in raters:  # consent, the comprehension check and three items each
        rater.open()
        while len(rater.acknowledged) < 3:
            assert rater.click()
    assert [rater.served_by for rater in raters] == [f"app{1 + i % 2}" for i in range(RATERS)]
    os.kill(serving.apps[0], signal.SIGKILL)

    stranded, kept = raters[0::2], raters[1::2]
    for rater in stranded:
        with pytest.raises(Exception):  # noqa: B017 - the connection to the killed process is gone
            rater.tab.run()
        rater.open()  # the reload: the proxy sends the cookie for app1 to app2
        assert rater.served_by == "app2"
        assert any(key.startswith("rating-") for key in rater.tab.widgets), rater.tab.texts[:5]
        assert "I agree" not in rater.tab.widgets  # no consent again
    for rater in raters:
        while rater.click():
            pass
        rater.close()

    assert [rater.code for rater in raters] == [CODE] * RATERS
    assert all(len(rater.acknowledged) == ITEMS_PER_RATER for rater in stranded + kept)
    assert check_ratings(store, raters) == {"acknowledged": RATERS * ITEMS_PER_RATER,
                                            "stored": RATERS * ITEMS_PER_RATER,
                                            "lost": 0, "duplicates": 0, "k_violations": 0}
