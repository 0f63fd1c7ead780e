#!/usr/bin/env bash
# Stop every process start.sh started, by the PIDs it recorded (Airflow first, then Redis and PostgreSQL).
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/profile.sh"
stop_pid() {
    local file="$PIDS/$1.pid"
    [ -f "$file" ] || return 0
    local pid; pid="$(cat "$file")"
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
        kill -KILL "$pid" 2>/dev/null
        pkill -KILL -P "$pid" 2>/dev/null
    fi
    rm -f "$file"
}
for file in "$PIDS"/worker*.pid; do [ -e "$file" ] && stop_pid "$(basename "$file" .pid)"; done
for name in scheduler dag-processor triggerer api-server redis; do stop_pid "$name"; done
if [ -f "$PIDS/postgres.pid" ]; then
    PGBIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop > /dev/null
    else
        "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop > /dev/null
    fi
    rm -f "$PIDS/postgres.pid"
fi
echo "stopped"
