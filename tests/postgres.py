"""The tests' PostgreSQL: the server scripts/setup-tests.sh starts, with a role that may create databases
(VT_TEST_POSTGRES_URL; without a server, the tests that need one fail)."""

import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

POSTGRES_URL = os.environ.get("VT_TEST_POSTGRES_URL", "postgresql://vt:vt@127.0.0.1:5432/postgres")


@contextmanager
def postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database (bytewise collation, as DuckDB sorts) on the tests' server; its URL.
    Dropped afterwards, with whatever still connects to it."""
    name = f"vt_test_{secrets.token_hex(6)}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0 LOCALE 'C' ENCODING 'UTF8'")
                      .format(sql.Identifier(name)))
    try:
        yield POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        _drop(name)


def _drop(name: str, attempts: int = 20) -> None:
    # FORCE ends the sessions still connected; it fails on one that is just logging in (a store's pool that
    # was not closed reconnects), so it is tried again a moment later.
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        for attempt in range(attempts):
            try:
                admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
                return
            except (psycopg.errors.InsufficientPrivilege, psycopg.errors.ObjectInUse):
                if attempt == attempts - 1:
                    raise
                time.sleep(0.1)
