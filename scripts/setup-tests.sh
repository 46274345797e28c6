#!/usr/bin/env bash
# Installs everything the test suite needs: Python packages, Debian's Chromium for the real-browser
# tests (Playwright cannot download its own browser on these machines), Debian's PostgreSQL, started, and
# Debian's HAProxy (scripts/serve.sh puts it before several app processes).
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO="" AS_POSTGRES="runuser -u postgres --"
[ "$(id -u)" -ne 0 ] && SUDO="sudo" AS_POSTGRES="sudo -u postgres"
if ! command -v chromium >/dev/null 2>&1 || ! command -v pg_ctlcluster >/dev/null 2>&1 \
        || ! command -v haproxy >/dev/null 2>&1; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium postgresql haproxy >/dev/null
fi

# PostgreSQL, for the tests that run the store on both backends: Debian's cluster, started, with a role
# that may create a database per test (VT_TEST_POSTGRES_URL in tests/conftest.py).
cluster=$(pg_lsclusters --no-header | awk 'NR == 1 {print $1, $2}')
$SUDO pg_ctlcluster $cluster start >/dev/null 2>&1 || true  # already running is fine
pg_isready -q -t 30
$AS_POSTGRES psql -q -v ON_ERROR_STOP=1 -c \
    "DO \$\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'vt') THEN
         CREATE ROLE vt LOGIN PASSWORD 'vt' CREATEDB; END IF; END \$\$;"
python3 -m pip install -q -r requirements-dev.txt
