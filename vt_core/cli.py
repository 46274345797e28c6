"""`python -m vt_core COMMAND`: the platform's command line, one subcommand per long job."""

from __future__ import annotations

import argparse
import sys

from vt_core.config import ConfigError, Settings
from vt_core.llm import LLM, EmbeddedServerError, LLMError
from vt_core.store import Store, StoreError


def doctor(_args: argparse.Namespace) -> int:
    """Show the configuration, then prove it works with one real, uncached call."""
    settings = Settings.from_env()
    store = Store(settings.db_path)
    llm = LLM.from_settings(settings, store)
    print(f"backend:  {llm.backend.describe()}")
    print(f"database: {settings.db_path} (schema version {store.schema_version()})")
    print(f"endpoint: {llm.endpoint()}")
    print(f"model:    {llm.model}")
    completion = llm.check()
    note = "  (demo model: the words mean nothing)" if llm.backend.demo else ""
    print(
        f"call:     ok in {completion.latency_ms:.0f} ms, {completion.tokens_in} tokens in, "
        f"{completion.tokens_out} out: {completion.text.strip()[:80]!r}{note}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vt_core", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("doctor", help="check the model backend and the database").set_defaults(run=doctor)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (ConfigError, StoreError, LLMError, EmbeddedServerError) as exc:
        print(f"{args.command}: FAILED: {exc}", file=sys.stderr)
        return 1
