"""The monitor's Prolific section (views/shared/prolific.py) through AppTest, against the scripted Prolific
server: without a token it says how to set one and offers the per-rater CSV; with one, a researcher creates
the study as a draft, publishes it, approves, rejects only what they ticked (a short message refused) and pays
a bonus once."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import app_store
from tests.scripted_prolific import TOKEN, ScriptedProlific
from tests.scripted_server import ScriptedServer
from tests.test_monitor import build_study
from tests.test_prolific import LONG
from vt_core.crowd.assignment import Identity, register_rater, set_rater_status
from vt_core.crowd.launch import rater_url, save_launch

BASE = "https://vt.example.org"


def section():
    from views.shared.prolific import prolific_section
    from views.shared.services import services
    from vt_core.crowd import get_study

    store = services().store
    prolific_section(store, get_study(store, "monitor study"), "https://vt.example.org")  # a function of its own: no globals


@pytest.fixture
def prolific(app_env, monkeypatch):
    with ScriptedServer() as llm, ScriptedProlific() as server:
        monkeypatch.setenv("PROLIFIC_TOKEN", TOKEN)
        monkeypatch.setenv("PROLIFIC_API_URL", server.url)
        app_env(llm.url)
        yield server


def click(at: AppTest, key: str) -> AppTest:
    at.button(key=key).click().run()
    assert not at.exception, at.exception
    return at


def test_without_a_token_the_section_says_how_and_offers_the_csv(app_env, monkeypatch):
    monkeypatch.delenv("PROLIFIC_TOKEN", raising=False)
    with ScriptedServer() as llm:
        app_env(llm.url)
        build_study(app_store(), n_items=1)
        at = AppTest.from_function(section, default_timeout=60).run()
    assert not at.exception
    assert "PROLIFIC_TOKEN" in at.info[0].value
    assert [b.label for b in at.get("download_button")] == ["Download the per-rater table (CSV)"]
    assert not at.button and not at.get("form")


def test_create_publish_decide_and_pay_from_the_section(prolific):
    store = app_store()
    study = build_study(store, n_items=1)
    at = AppTest.from_function(section, default_timeout=60).run()
    assert not at.exception
    assert "Save the places and the reward per rater under **Launch**" in at.info[0].value
    save_launch(store, study.id, places=5, reward_cents=250, currency="GBP", minutes=10)  # as Launch saves them
    at.run()
    click(at, "pl_create_go")
    [created] = prolific.studies.values()
    assert (created["status"], created["total_available_places"], created["reward"]) == ("UNPUBLISHED", 5, 250)
    assert created["estimated_completion_time"] == 10
    assert created["external_study_url"] == rater_url(BASE, study.token, "prolific")
    assert "Created on Prolific as a draft" in at.success[0].value
    click(at, "pl_publish")
    assert created["status"] == "ACTIVE"

    raters = {}
    for pid, status in (("good", "completed"), ("careless", "failed_checks")):
        raters[pid] = register_rater(store, study.id, Identity("prolific", pid), conditions=["a", "b"])
        set_rater_status(store, raters[pid].id, status)
    subs = {pid: prolific.add_submission(created["id"], pid) for pid in raters}
    click(at, "pl_read")
    proposed = at.dataframe[0].value
    assert dict(zip(proposed["participant"], proposed["proposed"], strict=True)) == \
        {"good": "APPROVE", "careless": "REJECT"}
    at.text_input(key="pl_who").set_value("dr. lee")
    click(at, "pl_decide_go")
    assert prolific.submissions[subs["good"]["id"]]["status"] == "APPROVED"
    assert prolific.submissions[subs["careless"]["id"]]["status"] == "AWAITING REVIEW"  # not ticked: not sent

    click(at, "pl_read")
    careless = subs["careless"]["id"]
    at.checkbox(key=f"pl_rej_{careless}").check()
    at.text_area(key=f"pl_msg_{careless}").set_value("Sorry.")
    at.text_input(key="pl_who").set_value("dr. lee")
    click(at, "pl_decide_go")
    assert "at least 100 characters" in at.error[0].value
    assert prolific.submissions[careless]["status"] == "AWAITING REVIEW"
    at.text_area(key=f"pl_msg_{careless}").set_value(LONG)
    click(at, "pl_decide_go")
    assert prolific.submissions[careless]["status"] == "REJECTED"
    assert prolific.submissions[careless]["rejection"] == {"message": LONG, "category": "FAILED_CHECK"}

    at.selectbox(key="pl_bonus_rater").set_value(raters["good"].id)
    at.number_input(key="pl_bonus_amount").set_value(1.5)
    click(at, "pl_bonus_go")
    [bonus_id] = prolific.bonuses
    assert prolific.bonuses[bonus_id]["lines"] == [("good", 1.5)]
    pay = next(b.key for b in at.button if b.key and b.key.startswith("pl_pay_"))
    click(at, pay)
    assert prolific.pay_calls == {bonus_id: 1}
    assert not [b for b in at.button if b.key and b.key.startswith("pl_pay_")]  # paid: no second button
    assert list(at.dataframe[-1].value["state"]) == ["paid"]
