"""`python -m vt_core COMMAND`: the platform's command line, one subcommand per long job."""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date, datetime
from pathlib import Path

from vt_core.benchmark import JOBS as BENCHMARK_JOBS
from vt_core.benchmark import LoopSettings, figures_text, get_loop_run, submit_loop
from vt_core.core.config import DEFAULT_WORKERS, Settings
from vt_core.core.jobs import JobError, list_jobs, run_here, worker_name
from vt_core.core.llm import LLM, EmbeddedServerError, LLMError, get_call, list_calls, prune_calls
from vt_core.core.store import Store, StoreError
from vt_core.crowd import (
    FORMATS,
    ExclusionRules,
    create_study,
    export_ratings,
    get_study,
    load_study_file,
    monitor,
    monitor_summary,
    run_pilot,
    seed_demo_study,
    unresolved_prompts,
)
from vt_core.designer import (
    JOBS,
    RefineError,
    SelfPlayError,
    approve,
    archive,
    create_project,
    delete,
    export_json,
    export_markdown,
    import_project,
    list_projects,
    project_counts,
    estimate_run,
    get_pattern,
    get_project,
    get_version,
    leaderboard,
    pattern_report,
    plan_for_project,
    propose_patterns,
    seed_demo,
    submit_judging,
    submit_refine,
    submit_selfplay,
)
from vt_core.userstudy import (
    UserStudy,
    create_user_study,
    get_user_study,
    import_measures,
    import_prompt_quality,
    load_user_study_file,
    measures_csv,
    participants,
    resume,
)
from vt_core.worker import work

# What a user can cause and fix; anything else is a bug and keeps its traceback.
USER_ERRORS = (ValueError, StoreError, LLMError, EmbeddedServerError, SelfPlayError, RefineError, JobError)


def _open() -> tuple[Store, LLM]:
    settings = Settings.from_env()
    store = Store(settings.database)
    return store, LLM.from_settings(settings, store)


class ProgressBar:
    """A one-line text progress bar on stderr, fed by the same callbacks as the pages."""

    def __init__(self, label: str = ""):
        self.label = label

    def __call__(self, done: int, total: int, label: str | None = None) -> None:
        width = 30
        filled = width * done // total if total else width
        text = label or self.label
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {text[:60]:<60}")
        if total and done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    def stage(self, stage: str, done: int, total: int) -> None:
        self(done, total, stage)


def cmd_doctor(_args: argparse.Namespace) -> int:
    """Show the configuration, then prove it works with one real, uncached call."""
    settings = Settings.from_env()
    store = Store(settings.database)
    llm = LLM.from_settings(settings, store)
    print(f"backend:  {llm.backend.describe()}")
    print(f"database: {store.where} (schema version {store.schema_version()})")
    print(f"endpoint: {llm.endpoint()}")
    print(f"model:    {llm.model}")
    completion = llm.check()
    note = "  (demo model: the words mean nothing)" if llm.backend.demo else ""
    print(
        f"call:     ok in {completion.latency_ms:.0f} ms, {completion.tokens_in} tokens in, "
        f"{completion.tokens_out} out: {completion.text.strip()[:80]!r}{note}"
    )
    return 0


def cmd_selfplay(args: argparse.Namespace) -> int:
    store, llm = _open()
    project = get_project(store, args.project)
    version = project.current_version_id
    plan = plan_for_project(store, project.id, args.n, args.seed, args.split)
    estimate = estimate_run(llm, project.goal, get_version(store, version).text, plan, args.turns)
    print(f"{llm.backend.describe()}: up to {estimate.calls} calls ({estimate.cached} cached), about "
          f"{estimate.tokens_in} tokens in and at most {estimate.tokens_out} out", file=sys.stderr)
    started = time.perf_counter()
    job = run_here(store, llm, submit_selfplay(store, project.id, version, plan, max_turns=args.turns, seed=args.seed),
                   JOBS, ProgressBar().stage)
    run_id, transcripts = job.result["run_id"], job.result["transcript_ids"]
    usage = llm.usage(f"{job.run_id}/selfplay:{run_id}")
    print(f"self-play run {job.result['number']}: {len(transcripts)} transcripts, {usage.calls} calls "
          f"({usage.cache_hits} cached), {usage.tokens_in} tokens in, {usage.tokens_out} out, "
          f"{time.perf_counter() - started:.1f} s")
    return 0


def cmd_patterns(args: argparse.Namespace) -> int:
    store, llm = _open()
    project = get_project(store, args.project)
    proposed = propose_patterns(llm, store, project.id, seed=args.seed)
    print(f"new candidate patterns: {len(proposed)}", file=sys.stderr)
    job = run_here(store, llm, submit_judging(store, project.id), JOBS, ProgressBar().stage)
    reports = [pattern_report(store, pattern_id) for pattern_id in job.result["pattern_ids"]]
    for report in reports:
        pattern = get_pattern(store, report.pattern_id)
        kappa = "n/a" if report.kappa is None else f"{report.kappa:.2f}"
        print(f"P{pattern.number} {pattern.status:9} {pattern.kind:5} pass {report.passed} fail {report.failed} "
              f"n/a {report.not_applicable} kappa {kappa}: {pattern.statement}")
    print(f"patterns: {len(proposed)} proposed, {len(reports)} evaluated for project {project.name!r}")
    return 0


def cmd_refine(args: argparse.Namespace) -> int:
    store, llm = _open()
    project = get_project(store, args.project)
    job = run_here(store, llm, submit_refine(store, project.id, rounds=args.rounds, k=args.candidates,
                                             n_train=args.train, n_heldout=args.heldout, max_turns=args.turns,
                                             seed=args.seed), JOBS, ProgressBar().stage)
    run_id = job.result["refine_run_id"]
    board = leaderboard(store, run_id)
    for c in board:
        score = lambda v: "  n/a" if v is None else f"{v:5.0%}"  # noqa: E731
        print(f"candidate {c.id:4} round {c.round} {c.status:9} train {score(c.train_pass)} "
              f"held-out {score(c.heldout_pass)} quality {c.quality or 0:.1f}")
    print(f"refine run {job.result['number']}: best candidate {job.result['best']} ({job.result['stopped']}); "
          f"approve it with: python -m vt_core approve {job.result['best']}")
    return 0


def cmd_bench_loop(args: argparse.Namespace) -> int:
    """The designer loop on a world with planted faults, in the foreground; its figures as a table or JSON."""
    store, llm = _open()
    settings = LoopSettings(seed=args.seed, k=args.k, rounds=args.rounds, noise=args.noise, marks=not args.no_marks,
                            train=args.train, heldout=args.heldout, turns=args.turns)
    job = run_here(store, llm, submit_loop(store, args.world, settings), BENCHMARK_JOBS, ProgressBar().stage)
    run = get_loop_run(store, job.result["loop_run_id"])
    print(json.dumps(run.figures, indent=2) if args.json else figures_text(run.figures))
    print(f"loop run {run.id} stored with project {run.figures['project']!r}", file=sys.stderr)
    return 0


def cmd_jobs(args: argparse.Namespace) -> int:
    """The jobs of the app and of the CLI, newest first, with their progress and how they ended."""
    store, _ = _open()
    jobs = list_jobs(store, limit=args.limit)
    for job in jobs:
        progress = f"{job.done}/{job.total}" if job.total else "-"
        print(f"{job.id:5} {job.kind:10} {job.status:11} {progress:>9} {job.created_at:%Y-%m-%d %H:%M}  {job.title}"
              + (f"  ({job.error})" if job.error else ""))
    if not jobs:
        print("no jobs yet", file=sys.stderr)
    return 0


def cmd_calls_list(args: argparse.Namespace) -> int:
    """The model calls, newest first, a line each: `calls show ID` prints one whole."""
    store, _ = _open()
    calls = list_calls(store, runs=[args.run_id] if args.run_id else None, search=args.search, limit=args.limit)
    for call in calls:
        answer = (call.response if call.status == "ok" else call.error or "").replace("\n", " ")
        print(f"{call.id:6} {call.created_at:%Y-%m-%d %H:%M:%S} {call.model[:24]:24} {call.status:7}"
              f" {'cache' if call.cache_hit else f'{call.latency_ms:5.0f}ms'} {call.tokens_in:>6}/{call.tokens_out:<6}"
              f" {call.run_id or '-':24} {answer[:60]!r}")
    if not calls:
        print("no model calls match", file=sys.stderr)
    return 0


def cmd_calls_show(args: argparse.Namespace) -> int:
    store, _ = _open()
    call = get_call(store, args.call)
    print(f"call {call.id} at {call.created_at:%Y-%m-%d %H:%M:%S} UTC, run {call.run_id or '-'}")
    print(f"{call.backend} {call.endpoint}, model {call.model}")
    print(f"{call.status}{' (from the cache)' if call.cache_hit else ''}: {call.tokens_in} tokens in,"
          f" {call.tokens_out} out, {call.latency_ms:.0f} ms, {call.attempts} attempt(s)")
    if call.parameters:
        print(f"parameters: {json.dumps(call.parameters, ensure_ascii=False)}")
    for message in call.messages:
        print(f"\n--- {message.get('role')}\n{message.get('content')}")
    print(f"\n--- reply\n{call.response if call.response is not None else ''}")
    if call.error:
        print(f"\n--- error\n{call.error}")
    return 0


def cmd_calls_prune(args: argparse.Namespace) -> int:
    store, _ = _open()
    deleted = prune_calls(store, datetime.combine(args.before, datetime.min.time()))
    print(f"deleted {deleted} model calls made before {args.before} (their answers are no longer cached)")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """Run the platform's queued jobs (the app's and the CLI's) until stopped, or until none is left."""
    settings = Settings.from_env()
    store, llm = _open()
    workers = args.workers or settings.workers or DEFAULT_WORKERS  # VT_WORKERS=0 is for app processes
    print(f"worker {worker_name()}: {workers} job threads on {store.where}; Ctrl-C stops taking jobs and "
          "waits for those running, a second Ctrl-C ends them (they can be resumed)", file=sys.stderr)
    work(store, llm, workers=workers, until_idle=args.until_idle)
    return 0


def cmd_approve(args: argparse.Namespace) -> int:
    store, _ = _open()
    version = approve(store, args.candidate)
    print(f"candidate {args.candidate} is now prompt version v{version.number}, current for its project")
    return 0


def cmd_seed_demo(args: argparse.Namespace) -> int:
    store, _ = _open()
    project = seed_demo(store)
    print(f"demo project {project.name!r} is ready (id {project.id})")
    if args.study:
        study = seed_demo_study(store)
        print(f"demo study {study.name!r} is ready (id {study.id}; its ratings are simulated, not collected)")
    return 0


def _project_key(text: str) -> int | str:
    """A project named on the command line by id or by name."""
    return int(text) if text.isdigit() else text


def _read_input(path: str) -> bytes:
    """A file named on the command line, or standard input for "-"."""
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None


def cmd_project_create(args: argparse.Namespace) -> int:
    prompt = _read_input(args.prompt).decode("utf-8", errors="replace")
    project = create_project(_study_store(), args.name, args.goal, args.audience, prompt)
    print(f"project {project.id} {project.name!r} created with its first prompt version")
    return 0


def cmd_project_list(_args: argparse.Namespace) -> int:
    store = _study_store()
    counts = project_counts(store)
    print(f"{'id':>5}  {'versions':>8}  {'transcripts':>11}  {'archived':8}  name")
    for p in list_projects(store, include_archived=True):
        n_versions, n_transcripts = counts.get(p.id, (0, 0))
        print(f"{p.id:>5}  {n_versions:>8}  {n_transcripts:>11}  {'yes' if p.archived_at else 'no':8}  {p.name}")
    return 0


def cmd_project_export(args: argparse.Namespace) -> int:
    store = _study_store()
    project = get_project(store, _project_key(args.project))
    text = export_markdown(store, project.id) if args.markdown else export_json(store, project.id)
    if args.out in (None, "-"):
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"wrote project {project.id} {project.name!r} to {args.out}", file=sys.stderr)
    return 0


def cmd_project_import(args: argparse.Namespace) -> int:
    project = import_project(_study_store(), _read_input(args.file), name=args.name)
    print(f"imported project {project.id} {project.name!r}")
    return 0


def cmd_project_archive(args: argparse.Namespace) -> int:
    store = _study_store()
    project = get_project(store, _project_key(args.project))
    archive(store, "project", project.id, archived=not args.undo)
    print(f"project {project.id} {project.name!r} {'is shown again' if args.undo else 'archived'}")
    return 0


def cmd_project_delete(args: argparse.Namespace) -> int:
    store = _study_store()
    project = get_project(store, _project_key(args.project))
    if not args.yes:
        print(f"project delete: deleting project {project.name!r} removes all of it for good; add --yes to do it",
              file=sys.stderr)
        return 1
    deleted = delete(store, "project", project.id)
    print(f"deleted {deleted.label} with its {deleted.transcripts} transcripts")
    return 0


def _study_store() -> Store:
    return Store(Settings.from_env().database)


def _study_key(text: str) -> int | str:
    """A study named on the command line by id or by name."""
    return int(text) if text.isdigit() else text


def _rules(args: argparse.Namespace) -> ExclusionRules:
    return ExclusionRules(exclude_failed_attention=not args.keep_failed_attention,
                          max_too_fast_share=args.max_too_fast_share,
                          max_gold_miss_share=args.max_gold_miss_share)


def cmd_study_load(args: argparse.Namespace) -> int:
    definition = load_study_file(args.file)  # an invalid file fails before the database opens
    store = _study_store()
    study = create_study(store, definition)
    print(f"study {study.id} {study.name!r} created as a draft")
    print(f"rater link: /?study={study.token}")
    if problems := unresolved_prompts(store, definition):
        print("note: the conditions name prompts that do not exist yet; create them before adding self-play "
              "items:\n  " + "\n  ".join(problems))
    return 0


def cmd_study_export(args: argparse.Namespace) -> int:
    store = _study_store()
    study = get_study(store, _study_key(args.study))
    out = args.out or f"study-{study.id}-ratings.{args.format}"
    rows = export_ratings(store, study.id, out, args.format, _rules(args))
    print(f"wrote {rows} rating rows of study {study.id} {study.name!r} to {out}")
    return 0


def cmd_study_monitor(args: argparse.Namespace) -> int:
    store = _study_store()
    study = get_study(store, _study_key(args.study))
    print(f"study {study.id} {study.name!r} ({study.status})")
    print(monitor_summary(monitor(store, study.id, exclusion=_rules(args))))
    return 0


def cmd_study_pilot(args: argparse.Namespace) -> int:
    store, llm = _open()
    study = get_study(store, _study_key(args.study))
    result = run_pilot(store, llm, study, raters=args.raters, seed=args.seed,
                       progress=ProgressBar("simulated raters"))
    print(f"pilot of study {study.id} {study.name!r}: {len(result.rater_ids)} simulated raters ({llm.backend.describe()}), "
          f"{result.ratings} items rated")
    return 0


def cmd_critic(args: argparse.Namespace) -> int:
    """Every method (or those named) over MovieLens critics; results and summary into --out."""
    from vt_core.critic import movielens_splits, run_methods, summarise, summary_markdown  # altair: a second

    splits = movielens_splits(args.users, args.k, args.seed, args.test_per_class, args.validation_per_class)
    _, llm = _open()
    table = run_methods(llm, splits, args.methods, progress=ProgressBar().stage, batch_size=args.batch_size)
    summary = summarise(table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "results.csv", index=False)
    summary.to_csv(out / "summary.csv", index=False)
    title = (f"Critic case study: {args.users} MovieLens critics, K={args.k} per class, seeds "
             f"{', '.join(map(str, args.seed))}, {args.test_per_class} test films per class\n"
             f"Backend of the LLM methods: {llm.backend.describe()}\n")
    text = title + "\n" + summary_markdown(summary)
    (out / "summary.md").write_text(text)
    print(text + f"\nwrote {out / 'results.csv'}, {out / 'summary.csv'} and {out / 'summary.md'}")
    return 0


def cmd_study_report(args: argparse.Namespace) -> int:
    rules = _rules(args)
    store = _study_store()
    study = get_study(store, _study_key(args.study))
    from vt_core.analysis import (  # statsmodels, altair: a second to import
        preference_data,
        study_data,
        write_preference_report,
        write_report,
    )

    if study.definition.side_by_side:
        path = write_preference_report(preference_data(store, study.id, rules, mixed=args.mixed is not False),
                                       args.out, args.format)
    else:
        data = study_data(store, study.id, rules, mixed=args.mixed)
        path = write_report(data.analysis, data.frame, args.out, args.format, labels=data.labels)
    print(f"wrote the report of study {study.id} {study.name!r} to {path} (charts as {args.format.upper()} in "
          f"{path.parent / 'charts'}, tables as CSV in {path.parent / 'tables'})")
    return 0


def _user_study(store: Store, text: str) -> UserStudy:
    return get_user_study(store, _study_key(text))


def cmd_userstudy_load(args: argparse.Namespace) -> int:
    definition = load_user_study_file(args.file)  # an invalid file fails before the database opens
    study = create_user_study(_study_store(), definition)
    print(f"user study {study.id} {study.name!r} created with {definition.participants} participants; "
          f"their links: python -m vt_core userstudy links {study.id}")
    return 0


def cmd_userstudy_links(args: argparse.Namespace) -> int:
    store = _study_store()
    study = _user_study(store, args.study)
    for participant in participants(store, study.id):
        step = resume(store, participant)
        order = " -> ".join(f"{condition} ({task})" for condition, task in participant.sequence)
        where = "done" if step.kind == "done" else f"task {step.position}: {step.kind}"
        print(f"{participant.code}  {order:40}  {where:22}  {participant.link}")
    return 0


def cmd_userstudy_import(args: argparse.Namespace) -> int:
    store = _study_store()
    study = _user_study(store, args.study)
    rows = import_measures(store, study.id, args.file, replace_imported=args.replace)
    print(f"imported {rows} rows of measures into user study {study.id} {study.name!r}")
    return 0


def cmd_userstudy_export(args: argparse.Namespace) -> int:
    store = _study_store()
    study = _user_study(store, args.study)
    out = Path(args.out or f"userstudy-{study.id}-measures.csv")
    out.write_text(measures_csv(store, study.id), encoding="utf-8")
    print(f"wrote the measures of user study {study.id} {study.name!r} to {out}")
    return 0


def cmd_userstudy_quality(args: argparse.Namespace) -> int:
    store = _study_store()
    study = _user_study(store, args.study)
    if args.file:
        rows = import_prompt_quality(store, study.id, args.file)
        print(f"set the quality of {rows} final prompts of user study {study.id} from {args.file}")
        return 0
    from vt_core.userstudy import analysis as userstudy_stats  # statsmodels, altair: a second to import

    linked = userstudy_stats.quality_from_crowd(store, study.id, _study_key(args.crowd), args.dimension,
                                                _rules(args))
    print(f"set the quality of {linked} final prompts of user study {study.id} from crowd study {args.crowd} "
          f"({args.dimension})")
    return 0


def cmd_userstudy_analyse(args: argparse.Namespace) -> int:
    from vt_core.userstudy import analysis as userstudy_stats  # statsmodels, altair: a second to import

    store = _study_store()
    study = _user_study(store, args.study)
    if args.out:
        path = userstudy_stats.write_report(store, study.id, args.out, args.format)
        print(f"wrote the report of user study {study.id} {study.name!r} to {path}")
    else:
        print(userstudy_stats.report_markdown(userstudy_stats.analyse_user_study(store, study.id), {}))
    return 0


def _add_rules(command: argparse.ArgumentParser) -> None:
    command.add_argument("--keep-failed-attention", action="store_true",
                         help="do not exclude raters who failed an attention check")
    command.add_argument("--max-too-fast-share", type=float, default=None,
                         help="exclude raters with a larger share of too-fast ratings (0-1)")
    command.add_argument("--max-gold-miss-share", type=float, default=None,
                         help="exclude raters who missed a larger share of the gold items (0-1)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vt_core", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("doctor", help="check the model backend and the database").set_defaults(run=cmd_doctor)

    command = commands.add_parser("selfplay", help="simulated users talk to the project's current prompt")
    command.add_argument("--project", required=True, help="project name")
    command.add_argument("--n", type=int, default=8, help="conversations")
    command.add_argument("--turns", type=int, default=4, help="exchanges per conversation at most")
    command.add_argument("--seed", type=int, default=0)
    command.add_argument("--split", choices=["train", "heldout"], default="train", help="which scenarios")
    command.set_defaults(run=cmd_selfplay)

    command = commands.add_parser("patterns", help="propose patterns from the annotations and test them")
    command.add_argument("--project", required=True)
    command.add_argument("--seed", type=int, default=0)
    command.set_defaults(run=cmd_patterns)

    command = commands.add_parser("refine", help="write, test and rank candidate prompts")
    command.add_argument("--project", required=True)
    command.add_argument("--rounds", type=int, default=2)
    command.add_argument("--candidates", type=int, default=3, help="candidates per round")
    command.add_argument("--train", type=int, default=4, help="conversations on training scenarios")
    command.add_argument("--heldout", type=int, default=2, help="conversations on held-out scenarios")
    command.add_argument("--turns", type=int, default=3)
    command.add_argument("--seed", type=int, default=0)
    command.set_defaults(run=cmd_refine)

    command = commands.add_parser("bench-loop", help="measure the designer loop on a world with planted faults")
    command.add_argument("--world", required=True, help="the world's name (a file in vt_core/benchmark/worlds)")
    command.add_argument("--seed", type=int, default=0)
    command.add_argument("--k", type=int, default=2, help="candidates per refinement round")
    command.add_argument("--rounds", type=int, default=1, help="refinement rounds at most")
    command.add_argument("--noise", type=float, default=0.0, help="share of the oracle's marks flipped (0-1)")
    command.add_argument("--no-marks", action="store_true", help="no one marks the transcripts (a control)")
    command.add_argument("--train", type=int, help="training conversations (default: 2 per training scenario)")
    command.add_argument("--heldout", type=int, help="held-out conversations under each prompt (default: 2 per "
                                                     "held-out scenario)")
    command.add_argument("--turns", type=int, default=3, help="exchanges per conversation at most")
    command.add_argument("--json", action="store_true", help="print the figures as JSON")
    command.set_defaults(run=cmd_bench_loop)

    command = commands.add_parser("approve", help="make a refinement candidate the current prompt")
    command.add_argument("candidate", type=int)
    command.set_defaults(run=cmd_approve)

    command = commands.add_parser("jobs", help="the long work of the app and the CLI: progress and outcome")
    command.add_argument("--limit", type=int, default=30, help="how many of the newest jobs (default 30)")
    command.set_defaults(run=cmd_jobs)

    calls = commands.add_parser("calls", help="the log of model calls: list, show, prune")
    calls_commands = calls.add_subparsers(dest="calls_command", required=True)
    command = calls_commands.add_parser("list", help="the newest calls, a line each")
    command.add_argument("--run", dest="run_id", help="only this run and the runs in it, e.g. job:7")
    command.add_argument("-q", "--search", help="only calls whose request or reply holds this text")
    command.add_argument("-n", "--limit", type=int, default=20, help="how many (default 20)")
    command.set_defaults(run=cmd_calls_list)
    command = calls_commands.add_parser("show", help="one call whole: request messages, reply, tokens, latency")
    command.add_argument("call", type=int, help="the call's id")
    command.set_defaults(run=cmd_calls_show)
    command = calls_commands.add_parser("prune", help="delete the calls made before a date, and their cached answers")
    command.add_argument("--before", type=date.fromisoformat, required=True, help="YYYY-MM-DD (UTC)")
    command.set_defaults(run=cmd_calls_prune)

    command = commands.add_parser("worker", help="run the queued jobs in this process, beside or without the app")
    command.add_argument("--workers", type=int, help=f"job threads (default VT_WORKERS, else {DEFAULT_WORKERS})")
    command.add_argument("--until-idle", action="store_true", help="exit once no job is queued or running")
    command.set_defaults(run=cmd_worker)
    command = commands.add_parser("seed-demo", help="create the demo project (no model calls)")
    command.add_argument("--study", action="store_true",
                         help="also create the demo crowd study, rated by simulated raters")
    command.set_defaults(run=cmd_seed_demo)

    project = commands.add_parser("project", help="projects: create, list, export, import, archive, delete")
    project_commands = project.add_subparsers(dest="project_command", required=True)
    command = project_commands.add_parser("create", help="a new project with its first prompt version")
    command.add_argument("name")
    command.add_argument("--goal", required=True, help="what the chatbot is for")
    command.add_argument("--audience", required=True, help="who it talks to")
    command.add_argument("--prompt", default="-", help="a file with the draft system prompt (default: - for stdin)")
    command.set_defaults(run=cmd_project_create)
    command = project_commands.add_parser("list", help="every project: id, versions, transcripts, archived, name")
    command.set_defaults(run=cmd_project_list)
    command = project_commands.add_parser("export", help="the whole project as JSON (to import elsewhere) or Markdown")
    command.add_argument("project", help="project id or name")
    command.add_argument("--markdown", action="store_true", help="a readable report instead of the JSON file")
    command.add_argument("--out", help="output path (default: standard output)")
    command.set_defaults(run=cmd_project_export)
    command = project_commands.add_parser("import", help="a project from an exported JSON file, with new ids")
    command.add_argument("file", help="the JSON file (- for stdin)")
    command.add_argument("--name", help="its name here (default: the file's; \"NAME (imported)\" when taken)")
    command.set_defaults(run=cmd_project_import)
    command = project_commands.add_parser("archive", help="hide a project from lists, keeping all of it")
    command.add_argument("project", help="project id or name")
    command.add_argument("--undo", action="store_true", help="show it again")
    command.set_defaults(run=cmd_project_archive)
    command = project_commands.add_parser("delete", help="delete a project and all of it, unless a study uses it")
    command.add_argument("project", help="project id or name")
    command.add_argument("--yes", action="store_true", help="really delete it")
    command.set_defaults(run=cmd_project_delete)

    study = commands.add_parser("study", help="crowd-rating studies: load, pilot, monitor, export")
    study_commands = study.add_subparsers(dest="study_command", required=True)
    command = study_commands.add_parser("load", help="create a draft study from a TOML file")
    command.add_argument("file")
    command.set_defaults(run=cmd_study_load)
    command = study_commands.add_parser("export", help="write the study's ratings to a file")
    command.add_argument("study", help="study id or name")
    command.add_argument("--format", choices=FORMATS, default="csv")
    command.add_argument("--out", help="output path (default: study-ID-ratings.FORMAT)")
    _add_rules(command)
    command.set_defaults(run=cmd_study_export)
    command = study_commands.add_parser("monitor", help="a short summary of the study's progress")
    command.add_argument("study", help="study id or name")
    _add_rules(command)
    command.set_defaults(run=cmd_study_monitor)
    command = study_commands.add_parser("pilot", help="simulated LLM raters rate the study first")
    command.add_argument("study", help="study id or name")
    command.add_argument("--raters", type=int, default=4)
    command.add_argument("--seed", type=int, default=0)
    command.set_defaults(run=cmd_study_pilot)

    command = commands.add_parser("critic", help="the movie-critic case study: every method over MovieLens critics")
    command.add_argument("--users", type=int, default=3, help="critics (MovieLens users) to draw")
    command.add_argument("--k", type=int, default=10, help="training films per class (5, 10, 20 in the study)")
    command.add_argument("--seed", type=int, nargs="+", default=[0],
                         help="one split per critic and seed; the first seed also draws the critics")
    command.add_argument("--out", required=True, help="folder for results.csv, summary.csv and summary.md")
    command.add_argument("--methods", nargs="+", help="methods to run (default: all)")
    command.add_argument("--test-per-class", type=int, default=10)
    command.add_argument("--validation-per-class", type=int, default=5)
    command.add_argument("--batch-size", type=int, default=10, help="films per call of the LLM baselines")
    command.set_defaults(run=cmd_critic)

    command = commands.add_parser("report", help="a crowd study's statistics as Markdown, charts and CSV tables")
    command.add_argument("study", help="study id or name")
    command.add_argument("--out", required=True, help="folder to write report.md, charts/ and tables/ into")
    command.add_argument("--format", choices=["png", "svg"], default="png", help="chart format")
    command.add_argument("--mixed", action=argparse.BooleanOptionalAction, default=None,
                         help="fit the mixed model, or not (default: only up to 20,000 ratings per rater kind "
                              "and dimension)")
    _add_rules(command)
    command.set_defaults(run=cmd_study_report)

    userstudy = commands.add_parser("userstudy", help="designer user studies: load, links, import, export, analyse")
    user_commands = userstudy.add_subparsers(dest="study_command", required=True)
    command = user_commands.add_parser("load", help="create a user study and its participants from a TOML file")
    command.add_argument("file")
    command.set_defaults(run=cmd_userstudy_load)
    command = user_commands.add_parser("links", help="each participant's order, progress and link")
    command.add_argument("study", help="user study id or name")
    command.set_defaults(run=cmd_userstudy_links)
    command = user_commands.add_parser("import", help="import measures of a study run elsewhere from CSV")
    command.add_argument("study", help="user study id or name")
    command.add_argument("file", help="CSV: participant, condition, position and measure columns")
    command.add_argument("--replace", action="store_true", help="replace the rows imported before")
    command.set_defaults(run=cmd_userstudy_import)
    command = user_commands.add_parser("export", help="write the table of measures as CSV")
    command.add_argument("study", help="user study id or name")
    command.add_argument("--out", help="output path (default: userstudy-ID-measures.csv)")
    command.set_defaults(run=cmd_userstudy_export)
    command = user_commands.add_parser("quality", help="the final prompts' quality: expert CSV or a crowd study")
    command.add_argument("study", help="user study id or name")
    source = command.add_mutually_exclusive_group(required=True)
    source.add_argument("--file", help="CSV: participant, condition, prompt_quality")
    source.add_argument("--crowd", help="crowd study id or name whose conditions are named like P01-tool")
    command.add_argument("--dimension", default="quality", help="the crowd study's dimension (default: quality)")
    _add_rules(command)
    command.set_defaults(run=cmd_userstudy_quality)
    command = user_commands.add_parser("analyse", help="the statistics: print them, or write a report with --out")
    command.add_argument("study", help="user study id or name")
    command.add_argument("--out", help="folder to write report.md, charts/, tables/ and measures.csv into")
    command.add_argument("--format", choices=["png", "svg"], default="png", help="chart format")
    command.set_defaults(run=cmd_userstudy_analyse)

    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except USER_ERRORS as exc:
        name = args.command + (f" {args.study_command}" if args.command in ("study", "userstudy") else "") \
            + (f" {args.project_command}" if args.command == "project" else "")
        print(f"{name}: FAILED: {exc}", file=sys.stderr)
        return 1
