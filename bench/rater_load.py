"""Raters at once on the real server: simulated raters drive app.py's rater page over Streamlit's websocket
protocol (bench/streamlit_session.py), each through a real Prolific study link: consent, instructions and
the comprehension check, every item (attention checks answered as asked) with a think time, and the
completion code. Every click is timed until the server finished its script runs.

    python bench/rater_load.py                     # 10, 30 and 100 raters, think time 10 s, (a) and (b)
    python bench/rater_load.py --raters 30 --think 2 --processes 2

(a) is one `streamlit run` on a DuckDB file; (b) two app processes and a worker behind HAProxy on a new
PostgreSQL database of the tests' server (scripts/serve.sh; VT_TEST_POSTGRES_URL), raters sent to the
processes in turn by the proxy's sticky cookie.

Afterwards the database is checked: ratings stored vs acknowledged (a rating is acknowledged when the page
moved on to the next item or the code), repeated (rater, item, dimension) rows, items above k. The
servers' CPU time per click (all app processes) and the largest one's peak memory come from /proc, and so
does, on PostgreSQL, the database server's CPU time per click (DuckDB's work is the app process's). Last
line: one JSON object with `runs` (one entry per configuration and number of raters) and
`raters_per_process_at_p95_1s`, the largest number of raters tried on one process whose click p95 was at
most 1 s.
"""

import argparse
import json
import math
import os
import random
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.streamlit_session import Session  # noqa: E402
from tests.browser import served, streamlit_app  # noqa: E402
from tests.postgres import postgres_database  # noqa: E402
from vt_core.core.store import Store  # noqa: E402
from vt_core.crowd import add_check_items, create_study, import_items_jsonl, list_items, set_study_status  # noqa: E402
from vt_core.crowd.studies import StudyDefinition  # noqa: E402

ITEMS_PER_RATER = 10  # of which CHECKS are attention checks
CHECKS = 2
K = 3
ARRIVAL_S = 10.0
CODE = "LOAD-DONE"


def make_study(store: Store, raters: int) -> tuple[str, dict[int, dict[str, int]]]:
    """An open study with enough items for every rater; its token and the checks' expected answers by item id."""
    study = create_study(store, StudyDefinition.model_validate({
        "name": "load", "conditions": [{"name": "baseline"}, {"name": "tuned"}],
        "instructions": ["Answer in one sentence."],
        "items_per_rater": ITEMS_PER_RATER - CHECKS, "ratings_per_item": K,
        "attention_checks": [
            {"instruction": "This is a check: choose Disagree for the first question.", "dimension": "adherence",
             "expected": 2},
            {"instruction": "This is a check: choose Agree for the second question.", "dimension": "quality",
             "expected": 6}],
        "comprehension": {"question": "What do you rate?", "options": ["the bot", "the user"], "answer": "the bot"},
        "consent_text": "You agree to read chatbot conversations.",
        "instruction_text": "Read each conversation, then rate the bot.",
        "completion_codes": {"completed": CODE, "screened_out": "OUT", "failed_checks": "FAIL"},
        "min_seconds_per_item": 0.0,
    }))
    per_condition = math.ceil(raters * (ITEMS_PER_RATER - CHECKS) / K / 2) + 2
    for condition in ("baseline", "tuned"):
        import_items_jsonl(store, study, condition, [
            json.dumps({"messages": [{"role": "user", "content": f"Which film tonight? ({i})"},
                                     {"role": "assistant", "content": f"Try a comedy, number {i}."}],
                        "match_key": f"m{i}"}) for i in range(per_condition)])
    add_check_items(store, study)
    set_study_status(store, study.id, "open")
    checks = {item.id: item.expected for item in list_items(store, study.id) if item.kind == "attention"}
    return study.token, checks


class Rater:
    """One simulated rater's tab on the rater page, a click at a time: `open()` opens (or reloads) the study
    link, `click()` makes the click the page asks for next."""

    def __init__(self, url: str, token: str, index: int, checks: dict, cookie: str = ""):
        self.url, self.checks, self.cookie = url, checks, cookie
        self.external_id = f"{index:024x}"
        self.query = f"study={token}&PROLIFIC_PID={self.external_id}&STUDY_ID=load&SESSION_ID=s{index}"
        self.rng = random.Random(index)
        self.clicks: list[float] = []  # seconds, each until the server finished the click's run
        self.acknowledged: list[int] = []  # items whose rating the page acknowledged by moving on
        self.code: str | None = None
        self.tab: Session | None = None
        self.served_by: str | None = None  # behind scripts/serve.sh's proxy: the app process of the last open

    def open(self) -> None:
        if self.tab is not None:
            self.tab.close()
        self.tab = Session(self.url, page="rater", query=self.query, cookie=self.cookie)
        self.served_by = self.tab.served_by
        self.tab.run()

    def click(self) -> bool:
        """The page's next click; False (and nothing clicked) once it shows the completion code."""
        tab = self.tab
        if "Your completion code:" in tab.texts:
            self.code = tab.texts[tab.texts.index("Your completion code:") + 1]
            return False
        for button in ("I agree", "Check again"):
            if button in tab.widgets:
                self.clicks.append(tab.run(click=button))
                return True
        if "Check my answer" in tab.widgets:
            tab.choose(next(key for key in tab.widgets if key.startswith("comprehension-")), 0)
            self.clicks.append(tab.run(click="Check my answer"))
            return True
        keys = [key for key in tab.widgets if key.startswith("rating-")]
        if not keys:
            raise RuntimeError(f"neither an item nor the code on the page: {tab.texts[:6]}")
        item_id = int(keys[0].split("-")[1])
        for key in keys:
            dimension = key.split("-", 2)[2]
            value = self.checks[item_id].get(dimension, 4) if item_id in self.checks else self.rng.randint(1, 7)
            tab.choose(key, value - 1)
        self.clicks.append(tab.run(click="Submit and continue"))
        if not any("was not stored" in text for text in tab.texts):
            self.acknowledged.append(item_id)
        return True

    def close(self) -> None:
        if self.tab is not None:
            self.tab.close()


def visit(rater: Rater, think_s: float, errors: list[str]) -> bool:
    """A rater's whole visit, with a think time before each click; whether it ended with the code."""
    try:
        rater.open()
        while True:
            time.sleep(rater.rng.uniform(0.5, 1.5) * think_s)
            if not rater.click():
                return rater.code == CODE
    except Exception as exc:  # noqa: BLE001 - counted and reported in the JSON
        errors.append(f"rater {rater.external_id}: {type(exc).__name__}: {exc}")
        return False
    finally:
        rater.close()


def check_ratings(store: Store, raters: list[Rater]) -> dict:
    """What the database holds against what the raters were shown: acknowledged ratings not stored,
    repeated (rater, item, dimension) rows, regular items rated by more than K raters."""
    db = store.cursor()
    stored = set(db.execute(
        "SELECT DISTINCT r.external_id, x.item_id FROM ratings x JOIN raters r ON r.id = x.rater_id").fetchall())
    acknowledged = {(rater.external_id, item) for rater in raters for item in rater.acknowledged}
    duplicates = db.execute("SELECT count(*) FROM (SELECT rater_id, item_id, dimension FROM ratings"
                            " GROUP BY rater_id, item_id, dimension HAVING count(*) > 1) AS twice").fetchone()[0]
    k_violations = db.execute("SELECT count(*) FROM (SELECT x.item_id FROM ratings x JOIN study_items i"
                              " ON i.id = x.item_id WHERE i.kind = 'regular' GROUP BY x.item_id"
                              " HAVING count(DISTINCT x.rater_id) > ?) AS over", [K]).fetchone()[0]
    return {"acknowledged": len(acknowledged), "stored": len(stored), "lost": len(acknowledged - stored),
            "duplicates": duplicates, "k_violations": k_violations}


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def postgres_cpu_s() -> float:
    """CPU seconds of the PostgreSQL server's processes alive now (on this machine)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the process ended meanwhile
            continue
        if text.split(" (", 1)[1].startswith("postgres)"):
            total += cpu_s(int(stat.parent.name))
    return total


def peak_mib(pid: int) -> float:
    line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


@contextmanager
def serving(processes: int, folder: Path, raters: int, visitors: list[Rater], found: dict):
    """The study and the app: (a) one `streamlit run` on a DuckDB file, or (b) `processes` app processes and
    a worker behind scripts/serve.sh's HAProxy, on a new PostgreSQL database. Yields the study's token,
    the checks' answers, the URL and the app processes' pids; once the app has stopped, `found` holds
    check_ratings of the `visitors`."""
    with ExitStack() as stack:
        if processes == 1:
            where = str(folder / "vt.duckdb")
        else:
            where = stack.enter_context(postgres_database())
        store = Store(where)
        token, checks = make_study(store, raters)
        store.close()

        def check() -> None:  # when the app has stopped (DuckDB lets one process open the file)
            store = Store(where)
            found.update(check_ratings(store, visitors))
            store.close()

        stack.callback(check)
        if processes == 1:
            apps: list = []
            url = stack.enter_context(streamlit_app(folder, {}, apps))
            pids = [apps[0].pid]
        else:
            secrets = folder / "secrets.toml"  # through a proxy a request comes from the network: a login
            secrets.write_text('[staff]\npassword = "bench-only-phrase"\nbehind_proxy = true\n')
            cluster = stack.enter_context(served(folder, {"VT_DATABASE_URL": where,
                                                          "STREAMLIT_SECRETS_FILES": str(secrets)}, processes))
            url, pids = cluster.url, cluster.apps
        yield token, checks, url, pids


def measure(raters: int, think_s: float, folder: Path, processes: int = 1) -> dict:
    visitors: list[Rater] = []
    found: dict = {}
    with serving(processes, folder, raters, visitors, found) as (token, checks, url, pids):
        for process in range(1, processes + 1):  # imports and caches, outside the figures
            warm = Session(url, page="rater", query=f"study={token}", cookie=f"VT_SERVER=app{process}")
            warm.run()
            warm.close()
        cpu_before, started = sum(cpu_s(pid) for pid in pids), time.perf_counter()
        database_before = postgres_cpu_s()
        arrivals = sorted(random.Random(raters).uniform(0, ARRIVAL_S) for _ in range(raters))
        # As browsers after their first page: the proxy's cookie sends each to a process, in turn.
        visitors += [Rater(url, token, i, checks, cookie=f"VT_SERVER=app{1 + i % processes}" if processes > 1 else "")
                     for i in range(raters)]
        errors: list[str] = []

        def arrive(index: int) -> bool:
            time.sleep(arrivals[index])
            return visit(visitors[index], think_s, errors)

        with ThreadPoolExecutor(max_workers=raters) as pool:
            completed = sum(pool.map(arrive, range(raters)))
        wall_s = time.perf_counter() - started
        server_cpu_s = sum(cpu_s(pid) for pid in pids) - cpu_before
        database_cpu_s = postgres_cpu_s() - database_before if processes > 1 else 0.0
        peak = max(peak_mib(pid) for pid in pids)
    ms = sorted(t * 1000 for rater in visitors for t in rater.clicks)
    return {
        "processes": processes, "store": "duckdb" if processes == 1 else "postgresql", "raters": raters,
        "think_s": think_s, "items_per_rater": ITEMS_PER_RATER, "k": K, "clicks": len(ms),
        "p50_ms": round(statistics.median(ms), 1) if ms else None,
        "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 1) if ms else None,
        "reruns_per_s": round(len(ms) / wall_s / processes, 2),  # clicks per second and process
        "server_cpu_ms_per_click": round(server_cpu_s * 1000 / max(len(ms), 1), 1),  # all app processes
        "database_cpu_ms_per_click": round(database_cpu_s * 1000 / max(len(ms), 1), 1),  # PostgreSQL's; DuckDB's is the app's
        "server_peak_mib": round(peak, 1),  # the largest app process
        "completed": completed, **found,
        "errors": len(errors), "first_error": errors[0] if errors else None,
        "wall_s": round(wall_s, 1), "load_1min": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--raters", default="10,30,100", help="numbers of raters, one run each")
    parser.add_argument("--think", type=float, default=10.0, help="mean seconds between a rater's clicks")
    parser.add_argument("--processes", default="1,2", help="1: one process on DuckDB; N: N processes and a "
                        "worker on PostgreSQL behind HAProxy (scripts/serve.sh); one run each")
    args = parser.parse_args()
    runs = []
    for processes in (int(n) for n in args.processes.split(",")):
        for raters in (int(n) for n in args.raters.split(",")):
            with tempfile.TemporaryDirectory() as tmp:
                runs.append(measure(raters, args.think, Path(tmp), processes))
            print(json.dumps(runs[-1]), flush=True)
    fine = [run["raters"] for run in runs
            if run["processes"] == 1 and run["p95_ms"] is not None and run["p95_ms"] <= 1000]
    print(json.dumps({"runs": runs, "raters_per_process_at_p95_1s": max(fine, default=0)}))


if __name__ == "__main__":
    main()
