#!/usr/bin/env bash
# Serve the app from several `streamlit run` processes behind HAProxy, with worker processes for the jobs,
# all on one PostgreSQL database:
#
#   VT_DATABASE_URL=postgresql://vt:PASSWORD@localhost/vt scripts/serve.sh --replicas 2 --workers 1
#
# Options: --replicas N app processes (default 2), --workers M `python -m vt_core worker` processes (default
# 1; with one or more, the app processes run no jobs themselves), --port P where HAProxy listens (default
# 8501), --address A (default 0.0.0.0). The app processes listen on 127.0.0.1 at P+1, P+2, ...
#
# A Streamlit session lives in the memory of the process that opened it, so HAProxy keeps each browser on
# one process with a cookie (VT_SERVER); when that process stops answering its health check, the browser's
# next page load goes to another, where the rater's link and progress (kept in the database) go on. Every
# process signs cookies with the same `server.cookieSecret`: VT_COOKIE_SECRET, or one made once and kept
# in data/serve/cookie-secret. Requests through the proxy count as coming from the network, so configure a
# login first (README, "Access"). Ctrl-C (or SIGTERM) stops them all. Logs and pids: data/serve/ (or
# VT_SERVE_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."

replicas=2 workers=1 port=8501 address=0.0.0.0
while [ $# -gt 0 ]; do
    case "$1" in
        --replicas) replicas=$2; shift 2 ;;
        --workers) workers=$2; shift 2 ;;
        --port) port=$2; shift 2 ;;
        --address) address=$2; shift 2 ;;
        *) echo "serve.sh: unknown option $1 (see the comment at the top of $0)" >&2; exit 2 ;;
    esac
done
die() { echo "serve.sh: $*" >&2; exit 1; }
[[ $replicas =~ ^[1-9][0-9]*$ && $workers =~ ^[0-9]+$ ]] || die "--replicas takes a number from 1, --workers from 0"
[ -n "${VT_DATABASE_URL:-}" ] || die "several processes share a database only on PostgreSQL: set VT_DATABASE_URL"
command -v haproxy >/dev/null || die "HAProxy is missing: sudo apt-get install haproxy"

run_dir=${VT_SERVE_DIR:-data/serve}
mkdir -p "$run_dir"
secret=${VT_COOKIE_SECRET:-}
if [ -z "$secret" ]; then
    [ -s "$run_dir/cookie-secret" ] || (umask 077; python3 -c "import secrets; print(secrets.token_urlsafe(32))" \
        >"$run_dir/cookie-secret")
    secret=$(cat "$run_dir/cookie-secret")
fi

children=()
stop() {
    trap - EXIT INT TERM
    kill "${children[@]}" 2>/dev/null || true
    wait 2>/dev/null || true
}
trap stop EXIT INT TERM

# Apply the migrations once, before the processes start together.
python3 -c "from vt_core.core.config import Settings; from vt_core.core.store import Store; \
Store(Settings.from_env().database).close()"

servers=""
for i in $(seq 1 "$replicas"); do
    app_port=$((port + i))
    VT_WORKERS=$([ "$workers" -gt 0 ] && echo 0 || echo "${VT_WORKERS:-2}") STREAMLIT_SERVER_COOKIE_SECRET=$secret \
        python3 -m streamlit run app.py --server.port "$app_port" --server.address 127.0.0.1 \
        --server.headless true >"$run_dir/app-$i.log" 2>&1 &
    children+=($!)
    echo $! >"$run_dir/app-$i.pid"
    servers+="    server app$i 127.0.0.1:$app_port cookie app$i check inter 1s fall 2 rise 1"$'\n'
done
for i in $(seq 1 "$workers"); do
    python3 -m vt_core worker >"$run_dir/worker-$i.log" 2>&1 &
    children+=($!)
done

cat >"$run_dir/haproxy.cfg" <<EOF
# Written by scripts/serve.sh; changes are lost on its next start.
global
    maxconn 4096
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1h  # a Streamlit session is one long websocket
    option redispatch  # a cookie naming a process that is down goes to another
    option forwardfor  # X-Forwarded-For: the app knows the request came through a proxy, from the network
    retries 2
frontend app
    bind $address:$port
    default_backend streamlit
backend streamlit
    balance leastconn
    cookie VT_SERVER insert indirect nocache httponly
    http-response set-header X-VT-Server %[srv_name]  # which process answered, for checks and benchmarks
    option httpchk GET /_stcore/health
$servers
EOF
haproxy -db -f "$run_dir/haproxy.cfg" >"$run_dir/haproxy.log" 2>&1 &
children+=($!)

echo "serving on http://$address:$port: $replicas app processes, $workers workers, database $(python3 -c \
"from vt_core.core.store.postgres import redacted; import os; print(redacted(os.environ['VT_DATABASE_URL']))"); \
logs in $run_dir" >&2
wait
