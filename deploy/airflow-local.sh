#!/usr/bin/env bash
# `make airflow` / `make airflow-stop`: a local Airflow (`airflow standalone`: SQLite metadata,
# LocalExecutor) with popheath's DAGs and the demo settings. State lives in .airflow/ (not in git).
# Usage: deploy/airflow-local.sh start|stop|status
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$REPO/.airflow}"
export AIRFLOW__CORE__DAGS_FOLDER="$REPO/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__EXECUTOR=LocalExecutor
export AIRFLOW__API__PORT="${POPHEATH_AIRFLOW_PORT:-8080}"
export AIRFLOW__API__HOST=127.0.0.1
# Task processes report to the API server on this port (not the default 8080).
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://127.0.0.1:$AIRFLOW__API__PORT/execution/"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin"
export POPHEATH_CONFIG="${POPHEATH_CONFIG:-$REPO/popheath.toml}"
export PATH="$REPO/.venv/bin:$PATH"
PIDFILE="$AIRFLOW_HOME/standalone.pid"
PASSWORDS="$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated"

case "${1:-}" in
start)
    mkdir -p "$AIRFLOW_HOME"
    if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
        echo "Airflow is already running (pid $(cat "$PIDFILE")); make airflow-stop stops it"; exit 0
    fi
    setsid nohup airflow standalone > "$AIRFLOW_HOME/standalone.log" 2>&1 < /dev/null &
    echo $! > "$PIDFILE"
    for _ in $(seq 1 240); do
        if (echo > "/dev/tcp/127.0.0.1/$AIRFLOW__API__PORT") 2>/dev/null && [ -s "$PASSWORDS" ]; then
            echo "Airflow UI and API: http://127.0.0.1:$AIRFLOW__API__PORT"
            echo "login: admin / $(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['admin'])" "$PASSWORDS")"
            echo "DAGs: popheath_nightly, popheath_train, popheath_capitation (settings: $POPHEATH_CONFIG)"
            echo "log: $AIRFLOW_HOME/standalone.log; stop with: make airflow-stop"
            exit 0
        fi
        sleep 1
    done
    echo "Airflow did not come up in 4 minutes; see $AIRFLOW_HOME/standalone.log" >&2; exit 1
    ;;
stop)
    if [ -f "$PIDFILE" ]; then
        pid="$(cat "$PIDFILE")"
        kill -TERM -- "-$pid" 2>/dev/null || true
        for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
        kill -KILL -- "-$pid" 2>/dev/null || true
        rm -f "$PIDFILE"
    fi
    echo "Airflow stopped"
    ;;
status)
    if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then echo "running (pid $(cat "$PIDFILE"))"; else echo "not running"; fi
    ;;
*) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
