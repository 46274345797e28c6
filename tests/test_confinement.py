"""A study or participant link confines the browser that opened it: the signed cookie that says so
(vt_core.core.access: signing, reading, the key, which link wins), the page that writes it, and the staff's
way out (`?staff` and the staff login). The cookie's effect across reloads and typed URLs needs a real
browser: tests/test_browser_access.py."""

from __future__ import annotations

import json
import base64
import hashlib
import hmac
import os
import re
import time

import pytest
from streamlit.testing.v1 import AppTest

from tests.test_rater_page import PROLIFIC, consent, make_study, open_link, raters, server  # noqa: F401
from vt_core.core.access import (
    LINK_MAX_AGE_S,
    Link,
    link_key,
    link_params,
    rater_link_choice,
    read_link,
    sign_link,
)

KEY = b"k" * 32
LINK = Link("rater", {"study": "tok", "PROLIFIC_PID": "pid1"}, 1_000_000)


# -- the signed cookie --------------------------------------------------------------------------


def test_a_signed_link_reads_back_within_its_day():
    value = sign_link(KEY, LINK)
    assert re.fullmatch(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", value)  # only what a cookie value may hold
    assert read_link(KEY, value, LINK.issued + 10) == LINK
    assert read_link(KEY, value, LINK.issued + LINK_MAX_AGE_S) == LINK
    assert read_link(KEY, value, LINK.issued + LINK_MAX_AGE_S + 1) is None  # expired
    assert read_link(KEY, value, LINK.issued - 3600) is None  # from the future


def test_a_link_not_signed_by_this_server_is_nothing():
    value = sign_link(KEY, LINK)
    body, mac = value.split(".")
    forged = json.dumps({"k": "rater", "p": {"study": "tok", "PROLIFIC_PID": "someone-else"}, "t": LINK.issued})
    forged_body = base64.urlsafe_b64encode(forged.encode()).rstrip(b"=").decode()
    for bad in (f"{forged_body}.{mac}", f"{body}.{mac[:-2]}AA", sign_link(b"x" * 32, LINK), "", "garbage",
                "a.b.c", f"{body}.", ".", f"{body}.{'A' * 5000}", None):
        assert read_link(KEY, bad, LINK.issued + 10) is None, bad


def test_a_cookie_of_another_kind_or_shape_is_nothing():
    def signed(payload: object) -> str:  # a payload this server never writes, signed with its key
        body = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
        mac = hmac.new(KEY, b"vt-link\x00" + body.encode(), hashlib.sha256).digest()
        return f"{body}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"

    assert read_link(KEY, signed({"k": "rater", "p": {"study": "t"}, "t": 5}), 10) == Link("rater", {"study": "t"}, 5)
    for payload in ({"k": "staff", "p": {}, "t": 5}, {"k": "rater", "p": [], "t": 5}, {"k": "rater", "p": {}, "t": "5"},
                    {"k": "rater", "p": {}}, [1, 2], "text"):
        assert read_link(KEY, signed(payload), 10) is None, payload


def test_link_params_keep_what_matters_and_keep_bad_values_bad():
    params = link_params("rater", {"study": "tok", "PROLIFIC_PID": "p" * 500, "utm_source": "x", "STUDY_ID": "",
                                   "SESSION_ID": "../../etc/passwd"})
    assert set(params) == {"study", "PROLIFIC_PID", "SESSION_ID"}
    assert params["PROLIFIC_PID"] == "p" * 160 + "…"  # cut, and marked so it cannot become a valid id
    assert params["SESSION_ID"] == "../../etc/passwd"  # the rater page refuses it; here it is only kept
    assert link_params("participant", {"participant": "abc", "study": "tok"}) == {"participant": "abc"}
    huge = Link("rater", link_params("rater", {name: "x" * 10_000 for name in ("study", "PROLIFIC_PID", "STUDY_ID",
                                                                               "SESSION_ID", "rater")}), 1)
    assert len(sign_link(KEY, huge)) < 4000  # a browser keeps cookies up to 4 KB


def test_the_key_is_made_once_kept_private_and_shared_when_configured(tmp_path):
    path = tmp_path / "data" / "link-cookie.key"
    key = link_key(path)
    assert path.exists() and os.stat(path).st_mode & 0o777 == 0o600
    assert link_key(path) == key  # a restart keeps every cookie valid
    assert key.secret.hex() not in repr(key) and path.read_text() not in repr(key)
    assert [p.name for p in path.parent.iterdir()] == ["link-cookie.key"]  # no draft left behind
    shared = link_key(path, "the-cookie-secret")
    assert shared != key and shared == link_key(tmp_path / "elsewhere.key", "the-cookie-secret")
    path.write_text("short")
    with pytest.raises(ValueError, match="no usable key") as caught:
        link_key(path)
    assert "short" not in str(caught.value)


# -- which study link a confined browser goes on with ----------------------------------------------

MINE = {"study": "tok", "PROLIFIC_PID": "pid1", "STUDY_ID": "st1", "SESSION_ID": "se1"}


@pytest.mark.parametrize("url, expected, set_aside", [
    ({}, MINE, False),  # a typed page URL, or the parameters removed
    ({"PROLIFIC_PID": "pid2"}, MINE, False),  # no token: not a study link at all
    (MINE, MINE, False),  # a reload
    ({**MINE, "PROLIFIC_PID": "pid2"}, MINE, True),  # another rater's id
    ({**MINE, "STUDY_ID": "other-study"}, MINE, True),
    ({**MINE, "SESSION_ID": "se2"}, MINE, True),
    ({"study": "tok"}, MINE, True),  # the id removed
    ({**MINE, "PROLIFIC_PID": "x" * 161 + "…"}, MINE, True),
    ({**MINE, "study": "another-token"}, {**MINE, "study": "another-token"}, False),  # another study: its link
])
def test_the_remembered_rater_stays_for_the_same_study(url, expected, set_aside):
    assert rater_link_choice(url, MINE, remembered_is_someone=True) == (expected, set_aside)


def test_a_remembered_link_that_named_nobody_gives_way():
    preview = {"study": "tok", "assignmentId": "ASSIGNMENT_ID_NOT_AVAILABLE", "hitId": "H1"}
    accepted = {"study": "tok", "assignmentId": "A1", "hitId": "H1", "workerId": "W1"}
    assert rater_link_choice(accepted, preview, remembered_is_someone=False) == (accepted, False)
    assert rater_link_choice(MINE, None, remembered_is_someone=False) == (MINE, False)
    assert rater_link_choice({}, None, remembered_is_someone=False) == ({}, False)


def test_an_anonymous_rater_keeps_the_id_the_page_gave():
    mine = {"study": "tok", "rater": "anon-1"}
    assert rater_link_choice({"study": "tok"}, mine, remembered_is_someone=True) == (mine, False)
    assert rater_link_choice({"study": "tok", "rater": "anon-2"}, mine, remembered_is_someone=True) == (mine, True)


# -- the page writes the cookie; the staff leave through ?staff -----------------------------------


def cookie_scripts(at: AppTest) -> list[str]:
    return [e.proto.body for e in at.get("html") if "vt-link-cookie" in e.proto.body]


def written_link(at: AppTest, tmp_path) -> Link | None:
    """The link in the cookie the page's last script writes, read with the server's key (beside the database)."""
    script = cookie_scripts(at)[-1]
    value = re.search(r'document\.cookie = "vt_link=([^;"]*);', script)[1]
    return read_link(link_key(tmp_path / "link-cookie.key").secret, value, time.time())


@pytest.fixture
def study(server):  # noqa: F811
    return make_study()


def test_a_study_link_writes_a_signed_cookie_with_the_link(study, tmp_path):
    at = open_link(study, PROLIFIC)
    link = written_link(at, tmp_path)
    assert link.kind == "rater" and link.params == {"study": study.token, **PROLIFIC}
    script = cookie_scripts(at)[0]
    assert "Path=/" in script and "SameSite=Lax" in script and "Max-Age=" in script
    assert "display:none" in script  # the element takes no room on the page


def test_an_anonymous_raters_cookie_holds_the_id_the_page_gave(server, tmp_path):  # noqa: F811
    study = make_study(platform="anonymous")
    at = open_link(study)
    (_, external_id, _), = raters()
    assert written_link(at, tmp_path).params == {"study": study.token, "rater": external_id}


def test_a_participant_link_writes_a_participant_cookie(server, tmp_path):  # noqa: F811
    at = AppTest.from_file("../app.py", default_timeout=30)
    at.query_params["participant"] = "no-such-token"
    at.run()
    assert not at.exception
    link = written_link(at, tmp_path)
    assert (link.kind, link.params) == ("participant", {"participant": "no-such-token"})
    assert "names nobody" in at.error[0].value


def test_without_a_login_staff_cannot_leave_a_link_here(study):
    at = consent(open_link(study, PROLIFIC))
    at.query_params["staff"] = "1"
    at.run()
    assert not at.exception
    assert "No staff login is configured" in at.info[0].value and not at.text_input
    assert not at.sidebar.caption  # no staff menu
    at.query_params.clear()
    at.run()
    assert [t.value for t in at.title] == ["Rate conversations"] and raters() == [("prolific", "pid0001",
                                                                                   "comprehension")]


def test_staff_leave_a_link_with_the_password(study):
    at = AppTest.from_file("../app.py", default_timeout=30)
    at.secrets["staff"] = {"password": "s3cret"}
    at.query_params.update({"study": study.token, **PROLIFIC})
    at.run()
    assert [t.value for t in at.title] == ["Rate conversations"]  # raters need no staff login
    at.query_params.clear()
    at.query_params["staff"] = ""
    at.run()
    assert [t.label for t in at.text_input] == ["Password"]
    at.text_input(key="staff_leave_password").input("wrong")
    at.button(key="staff_leave_submit").click().run()
    assert at.error[0].value == "Wrong password." and [t.label for t in at.text_input] == ["Password"]
    at.query_params.clear()  # a rater who gives up is back on the rating page
    at.run()
    assert [t.value for t in at.title] == ["Rate conversations"]
    at.query_params["staff"] = ""
    at.run()
    at.text_input(key="staff_leave_password").input("s3cret")
    at.button(key="staff_leave_submit").click().run()
    assert not at.exception and not at.text_input
    assert "staff" not in at.query_params and "study" not in at.query_params
    at.switch_page("views/researcher/settings.py").run()  # the staff pages, in this session
    assert at.title[0].value == "Settings"
