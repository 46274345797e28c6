"""Issue 11, injection: text that a model, a rater, a designer or an imported file wrote shows on the
designer pages exactly as written, never as Markdown or HTML (an image in it would make the
designer's browser fetch its URL; a link, a heading or a colour directive would change the page).

Every field the designer pages show is seeded, through the real vt_core API and a real self-play,
pattern and refinement run against the scripted endpoint, with one hostile text, tagged with the
field's name (§name§, §rationale§, ...). Each page then runs in AppTest, and every string the
browser renders as Markdown (st.markdown and st.caption bodies, titles and headers, alerts, widget,
expander and tab labels, tooltips, radio options) is checked: no construct of the hostile text is
there unescaped, and where a tagged text appears, it appears whole, escaped by
vt_core.core.text.escape_markdown, so it reads exactly as written. Selectbox and multiselect options
are plain text in the browser (Streamlit 1.67 renders them without Markdown), so there the text
must appear raw: escaping it would show backslashes. (A bare URL in escaped text is still made a
link by the browser's GFM autolinking, which runs after escapes; never an image, so nothing is fetched.)
"""

import json
import re

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import finish_jobs
from tests.scripted_server import Reply, ScriptedServer
from tests.scripted_worlds import PROMPT, EmojiWorld
from tests.test_designer_loop_pages import page
from vt_core.core.config import Settings
from vt_core.core.llm import LLM
from vt_core.core.llm.calls import call_log
from vt_core.core.store import Store
from vt_core.core.text import escape_markdown
from vt_core.designer.annotations import annotate
from vt_core.designer.patterns import (
    add_pattern,
    evaluate_patterns,
    propose_patterns,
    update_pattern,
)
from vt_core.designer.personas import add_persona
from vt_core.designer.projects import (
    add_version,
    create_project,
    current_version,
    update_project,
)
from vt_core.designer.refinement import refine
from vt_core.designer.scenarios import add_scenario
from vt_core.designer.selfplay import plan_for_project, run_conversations

PAGES = {name: f"views/designer/{name}.py" for name in
         ("overview", "projects", "setup", "selfplay", "review", "patterns", "refine", "compare", "playground")}

# Raw HTML, a link, an image, a colour directive, LaTeX, a heading and a list at the start of a line,
# an ordered list after a bare carriage return (a line ending in Markdown), right-to-left override and
# zero-width characters, and a code fence left open.
HOSTILE = ("# Heading §{tag}§\n"
           "- list\n"
           "<b>x</b> <script>alert(1)</script> [click](http://evil.example/a) ![i](http://evil.example/p.png)\n"
           ":red[red] $x^2$ \u202eright-to-left\u200b zero\u200bwidth\r"
           "1. after a carriage return\n"
           "```python")


def hostile(tag: str) -> str:
    return HOSTILE.format(tag=tag)


# What each hostile construct looks like unescaped: none may reach a Markdown string.
UNESCAPED = {name: re.compile(pattern) for name, pattern in {
    "link": re.escape("[click]"), "image": re.escape("![i]"), "link target": re.escape("](http:"),
    "HTML": "<b>|</b>|<script>", "directive": re.escape(":red["), "LaTeX": re.escape("$x^2$"),
    "code fence": "```", "heading": r"(?<!\\)#+ Heading", "list": r"(?:^|(?<=[\r\n]))[ \t]*- list",
    "ordered list after a CR": r"(?:^|(?<=[\r\n]))[ \t]*1\. after",  # "\r" and "\n" both end a line
}.items()}
TAG = re.compile(r"\\?# Heading §([a-z ]+)§")  # where a hostile text starts, raw or escaped


class HostileWorld(EmojiWorld):
    """The emoji world's roles (told apart by their prompts), but every text a model writes that a
    designer page shows is hostile: the simulated user's and the bot's turns, the proposed pattern,
    the judge's reasons and the writer's rationale for its change."""

    def __call__(self, request: dict) -> Reply:
        first = request["messages"][0]["content"]
        reply = super().__call__(request)
        if "role-playing a USER" in first:
            return Reply(content=hostile("user turn"))
        if first.startswith("You are a careful, impartial judge"):
            return Reply(content=json.dumps({"verdict": "exhibited", "reason": hostile("reason")}))
        if "turn their review notes" in first:
            return Reply(content=json.dumps({"patterns": [{"kind": "avoid", "statement": hostile("statement")}]}))
        if first.startswith("You improve the system prompt"):
            written = json.loads(reply.content)
            written["changes"][0]["rationale"] = hostile("change rationale")
            return Reply(content=json.dumps(written))
        if first.startswith("Rate the overall quality"):
            return reply
        return Reply(content=hostile("bot turn"))


def surfaces(at: AppTest) -> tuple[list[str], list[str]]:
    """(markdown, plain): every string of the page the browser renders as Markdown, and the options
    of selectboxes and multiselects, which it shows as plain text."""
    markdown, plain = [], []
    for node in [*at.main, *at.sidebar]:
        kind = getattr(node, "type", "")
        if kind in ("markdown", "caption", "latex", "title", "header", "subheader",
                    "error", "warning", "info", "success", "toast"):
            markdown.append(node.value)
        for field in ("label", "help"):  # widgets, expanders, tabs, popovers, page links
            try:
                value = getattr(node, field)
            except AttributeError:
                continue
            if isinstance(value, str):
                markdown.append(value)
        if kind == "radio":
            markdown.extend(node.options)
        if kind in ("selectbox", "multiselect"):
            plain.extend(node.options)
    return markdown, plain


def everything(at: AppTest) -> str:
    """All the text of the page, however it renders, to find which tagged texts it shows."""
    markdown, plain = surfaces(at)
    literal = [str(n.value) for n in [*at.main, *at.sidebar] if getattr(n, "type", "") in ("text", "code")]
    literal += [n.value.to_csv() for n in at.dataframe]
    literal += [n.value or "" for n in [*at.text_input, *at.text_area]]
    return "\n".join(markdown + plain + literal)


def unescaped(at: AppTest) -> list[str]:
    """Any exception, and each Markdown string that holds a hostile construct unescaped."""
    found = [f"exception: {e.value}" for e in at.exception]
    markdown, _ = surfaces(at)
    for text in markdown:
        constructs = [name for name, pattern in UNESCAPED.items() if pattern.search(text)]
        if constructs:
            found.append(f"unescaped {', '.join(constructs)} in {text[:48]!r}")
    return found


def problems(at: AppTest) -> list[str]:
    """unescaped(at), and each hostile text not shown exactly as written: escaped where it renders
    as Markdown, raw in a plain-text option."""
    found = unescaped(at)
    markdown, plain = surfaces(at)
    found += [f"§{tag}§ not shown exactly as written (escaped) in {text[:48]!r}"
              for text in markdown for tag in TAG.findall(text) if escape_markdown(hostile(tag)) not in text]
    found += [f"§{tag}§ not shown as written in the option {option[:48]!r}"
              for option in plain for tag in TAG.findall(option) if hostile(tag) not in option]
    return found


@pytest.fixture
def server(app_env):
    with ScriptedServer(respond=HostileWorld()) as server:
        app_env(server.url)
        yield server


@pytest.fixture
def seeded(server, tmp_path):
    """The app's database, with one project in which every text a designer page shows is hostile,
    from a real self-play run, the designer's marks, a proposed and judged pattern and a refinement
    run; with the id of the transcript the designer marked."""
    store = Store(tmp_path / "vt.duckdb")  # the database the app opens, in this process
    llm = LLM.from_settings(Settings.from_env({"OPENAI_BASE_URL": server.url, "VT_DB_PATH": str(store.path)}),
                            store)
    project = create_project(store, hostile("name"), goal=hostile("goal"), audience=hostile("audience"),
                             prompt=PROMPT + "\n" + hostile("prompt") + "\n")
    pid = project.id
    version = add_version(store, pid, current_version(store, pid).text + "\nBe brief.\n", author="designer",
                          rationale=hostile("rationale"), make_current=True)
    update_project(store, pid, locked_sections=["Persona"])
    add_persona(store, pid, hostile("persona"), {"goal": hostile("persona goal"), "mood": "friendly"})
    add_scenario(store, pid, title=hostile("title"), description=hostile("description"),
                 user_goal=hostile("user goal"), difficulty=2, rules=[hostile("rule")], source="generated")
    add_scenario(store, pid, title=hostile("held out title"), description="d", user_goal="g", difficulty=1,
                 split="heldout", source="generated")
    run = run_conversations(store, llm, pid, plan_for_project(store, pid, 1, seed=1), max_turns=1, seed=1,
                            version_id=version.id)
    marked = run.transcript_ids[0]
    annotate(store, marked, turn_idx=1, label="bad", critique=hostile("critique"))
    annotate(store, marked, turn_idx=None, label="bad", critique=hostile("overall critique"))
    [proposed] = propose_patterns(llm, store, pid)
    evaluate_patterns(llm, store, pid)
    update_pattern(store, proposed.id, status="accepted")
    add_pattern(store, pid, "keep", hostile("candidate"), status="candidate")
    refine(store, llm, pid, rounds=1, k=1, n_train=1, n_heldout=1, max_turns=1, seed=0)
    yield store, marked
    call_log(store).close()
    store.close()


# Which tagged texts each page must show (somewhere, however it renders them): the check is not
# vacuous, and a page that stops showing a field fails here rather than passing silently.
SHOWN = {
    "overview": set(),
    "projects": {"name", "rationale", "goal", "audience", "prompt"},
    "setup": {"name", "persona", "persona goal", "title", "held out title", "rule"},
    "selfplay": {"name", "prompt"},
    "review": {"name", "persona", "title", "description", "user goal", "user turn", "bot turn", "critique",
               "overall critique", "statement", "reason"},
    "patterns": {"name", "statement", "candidate"},
    "refine": {"name", "statement", "change rationale", "prompt"},
    "compare": {"name", "statement", "change rationale", "prompt", "persona", "title", "held out title",
                "user turn", "bot turn", "reason"},
    "playground": {"name", "prompt", "statement"},
}


def test_every_designer_page_shows_hostile_text_exactly_as_written(seeded):
    at = AppTest.from_file("../app.py", default_timeout=60).run()
    at.session_state["rv_transcript"] = seeded[1]  # Review opens on the transcript the designer marked
    failures = {}
    for name, path in PAGES.items():
        at.switch_page(path).run()
        found = problems(at)
        text = everything(at)
        found += [f"§{tag}§ is not shown at all" for tag in sorted(SHOWN[name]) if f"§{tag}§" not in text]
        if found:
            failures[name] = found
    assert not failures, "\n".join(f"{name}:\n  " + "\n  ".join(sorted(set(found)))
                                   for name, found in failures.items())


def test_names_and_titles_in_messages_show_as_written(seeded):
    at = page(PAGES["setup"])  # save a scenario the model proposed: the message names it
    picker = at.selectbox(key="scenario_pick_1")
    picker.select_index(next(i for i, option in enumerate(picker.options) if "§title§" in option)).run()
    at.button(key=f"scenario_save_1_{at.selectbox(key='scenario_pick_1').value}").click().run()
    assert "§title§" in at.success[0].value
    assert not problems(at), problems(at)

    at = page(PAGES["projects"])
    for attempt in range(2):  # the second time, the name is taken: the error quotes it
        at.text_input(key="new_name").input(hostile("new name"))
        at.text_area(key="new_prompt").input("You recommend films.")
        at.button(key="new_submit").click().run()
        if attempt == 0:
            assert "§new name§" in at.success[0].value and "§new name§" in at.header[0].value
            assert not problems(at), problems(at)
    assert "§new name§" in at.error[0].value
    assert not unescaped(at), unescaped(at)  # quoted with repr() by vt_core: not exactly as written


def failing(request: dict) -> Reply:
    """An endpoint that refuses every call, quoting hostile text in its error message."""
    return Reply(status=400, body=json.dumps({"error": {"message": hostile("endpoint error"), "type": "x"}}))


def test_errors_that_quote_the_endpoint_show_as_written(seeded, server):
    store, marked = seeded
    annotate(store, marked, turn_idx=1, label="bad", critique="changed")  # else proposing is answered from the cache
    server.respond = failing
    shown = escape_markdown("![i](http://evil.example/p.png)")  # the endpoint's message, shortened to one line
    actions = {"setup": lambda at: at.button(key="scenario_propose_1").click(),
               "patterns": lambda at: at.button(key="pt_propose").click(),
               "selfplay": lambda at: (at.button(key="sp_run").click().run(), finish_jobs(store))[0],  # a job
               "playground": lambda at: at.chat_input(key="pg_input_1").set_value(hostile("my message"))}
    failures = {}
    for name, act in actions.items():
        at = page(PAGES[name])
        act(at).run()
        found = unescaped(at)
        if not any(shown in error.value for error in at.error):
            found.append(f"no error quotes the endpoint escaped: {[e.value[:100] for e in at.error]}")
        if found:
            failures[name] = found
    assert not failures, "\n".join(f"{name}:\n  " + "\n  ".join(found) for name, found in failures.items())


@pytest.mark.parametrize("text", ["intro\r- item", "Title\r===", "a\r1. one", "a\r\n+ b"])
def test_a_carriage_return_starts_a_line_for_the_escaper(text):
    # CommonMark ends a line at \r as at \n: a list or a setext heading after it must be escaped too
    lines = re.split(r"\r\n?|\n", escape_markdown(text))
    assert all(not re.match(r"[ \t]*([-+=]|\d+[.)])", line) for line in lines), lines


def test_an_entity_shows_as_written():
    # "&lt;b&gt;" would show as "<b>": the ampersand is escaped so the entity reads as typed
    assert escape_markdown("&lt;b&gt; &amp;") == "\\&lt;b\\&gt; \\&amp;"
