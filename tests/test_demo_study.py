"""The demo crowd study: seed_demo_study on a real DuckDB (idempotent; its simulated raters went
through the rater functions, so leases, ratings, flags and k agree), and the Statistics page on an
empty database, where a button adds it and the page then shows its results, labelled as simulated."""

import json

import pytest

from tests.test_statistics_page import markdown, open_page  # noqa: F401  (open_page is a fixture)
from vt_core.crowd.demo import DEMO_FAILING, DEMO_HUMANS, DEMO_LLMS, DEMO_STUDY_NAME, is_demo_study, seed_demo_study
from vt_core.crowd.items import list_items
from vt_core.crowd.studies import list_studies

pytestmark = pytest.mark.both_backends  # each test that has a store runs on DuckDB and on PostgreSQL


def test_seed_demo_study_rates_through_the_rater_functions_once(store):
    study = seed_demo_study(store)
    assert (study.name, study.status) == (DEMO_STUDY_NAME, "closed") and is_demo_study(study)
    assert "SIMULATED" in study.definition.description and "not collected from people" in study.definition.description
    db = store.cursor()

    def counts():
        return [db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                for table in ("studies", "study_items", "raters", "ratings", "rater_flags")]

    before = counts()
    again = seed_demo_study(store)
    assert again.id == study.id and counts() == before and [s.id for s in list_studies(store)] == [study.id]

    d = study.definition
    regular = list_items(store, study.id, kind="regular")
    assert sorted(i.condition for i in regular) == ["baseline"] * 8 + ["tuned"] * 8
    assert all(len({i.match_key for i in regular if i.condition == c}) == 8 for c in ("baseline", "tuned"))
    raters = db.execute("SELECT kind, platform, external_id, status FROM raters WHERE study_id = ? ORDER BY id",
                        [study.id]).fetchall()
    humans = [r for r in raters if r[0] == "human"]
    assert len(humans) == DEMO_HUMANS and len(raters) == DEMO_HUMANS + DEMO_LLMS
    assert {r[1] for r in humans} == {"anonymous"} and {r[1] for r in raters if r[0] == "llm"} == {"llm"}
    assert humans[0][2] == "simulated-01"
    assert [r[2] for r in raters if r[3] != "completed"] == [DEMO_FAILING]
    assert [r[3] for r in raters if r[2] == DEMO_FAILING] == ["failed_checks"]
    assert db.execute("SELECT flag, count(*) FROM rater_flags GROUP BY flag").fetchall() == [("attention_failed", 2)]

    # every rater rated their sequence (items_per_rater regular items, half per condition, plus the two
    # checks) with both dimensions, each item rated at most k times per rater kind, and no lease is left
    per_rater = db.execute(
        "SELECT ra.id, count(DISTINCT r.item_id) FILTER (WHERE i.kind = 'regular'),"
        " count(DISTINCT r.item_id) FILTER (WHERE i.kind = 'attention'),"
        " count(DISTINCT r.item_id) FILTER (WHERE i.condition = 'tuned'), count(*), min(r.seconds)"
        " FROM raters ra JOIN ratings r ON r.rater_id = ra.id JOIN study_items i ON i.id = r.item_id"
        " WHERE ra.study_id = ? GROUP BY ra.id", [study.id]).fetchall()
    assert len(per_rater) == len(raters)
    for _, rated, checks, tuned, rows, fastest in per_rater:
        assert (rated, checks, tuned, rows) == (d.items_per_rater, 2, d.items_per_rater // 2,
                                                2 * (d.items_per_rater + 2))
        assert fastest >= d.min_seconds_per_item
    loads = db.execute(
        "SELECT ra.kind, r.item_id, count(DISTINCT r.rater_id) FROM ratings r JOIN raters ra ON ra.id = r.rater_id"
        " JOIN study_items i ON i.id = r.item_id WHERE i.kind = 'regular' GROUP BY ra.kind, r.item_id").fetchall()
    assert max(n for _, _, n in loads) <= d.ratings_per_item
    assert sum(n for kind, _, n in loads if kind == "human") == DEMO_HUMANS * d.items_per_rater
    assert db.execute("SELECT count(*) FROM leases").fetchone()[0] == 0
    low, high = db.execute("SELECT min(value), max(value) FROM ratings").fetchone()
    assert 1 <= low and high <= 7


def test_the_statistics_page_adds_and_shows_the_demo_study(open_page):  # noqa: F811
    at = open_page()
    assert at.info[0].value.startswith("No rating study yet.")
    assert not at.warning
    at.button(key="sx_demo").click().run(timeout=120)
    assert not at.exception, at.exception

    assert at.session_state["sx_study"] == 1
    assert [w.value for w in at.warning if w.value.startswith("**Simulated data.**")]
    assert "not collected from people" in at.warning[0].value
    text = markdown(at)
    assert "Human raters: 24 recruited, 1 excluded (failed attention checks: 1), 23 analysed." in text
    assert "LLM raters: 4 recruited, 0 excluded, 4 analysed." in text
    paragraphs = [t for t in text if t.startswith(("Adherence", "Quality", "Mixed model", "Agreement among",
                                                   "Each rater's ratings"))]
    assert len(paragraphs) == 1 + 2 * 2 * 3 + 2
    # the planted effect on adherence is found among the human raters; none was planted on quality
    human_adherence = next(t for t in paragraphs if t.startswith("Adherence"))
    assert human_adherence.startswith("Adherence was higher in the tuned condition")
    assert next(t for t in paragraphs if t.startswith("Quality")).startswith("Quality did not differ significantly")
    descriptives = next(df.value for df in at.dataframe if "median" in df.value.columns)
    assert descriptives["raters"].tolist() == [23, 23]
    assert descriptives["items"].tolist() == [8, 8]
    titles = [json.loads(c.proto.spec)["title"]["text"] for c in at.get("vega_lite_chart")]
    assert len(titles) == 2 * 2 * 2 + 3 and titles[0] == "Adherence per rater (human raters)"


def test_the_demo_study_is_offered_whenever_it_is_missing(open_page, tmp_path):  # noqa: F811
    from tests.test_monitor import definition
    from vt_core.core.store import Store
    from vt_core.crowd.studies import create_study, parse_study

    store = Store(tmp_path / "vt.duckdb")
    create_study(store, parse_study(definition(name="my study")))
    store.close()
    at = open_page()
    assert at.session_state["sx_study"] == 1  # the researcher's own study is shown
    at.button(key="sx_demo").click().run(timeout=120)
    assert not at.exception, at.exception
    assert at.session_state["sx_study"] == 2  # the demo study, chosen
    assert [s.name for s in list_studies(Store(tmp_path / "vt.duckdb"))] == ["my study", DEMO_STUDY_NAME]
    assert not [b for b in at.button if b.key == "sx_demo"]  # present now: no longer offered
