#!/usr/bin/env bash
# Start the production profile on this host without containers: PostgreSQL (unless an external
# database is configured), Redis, the Airflow API server, scheduler, DAG processor and triggerer,
# and $POPHEATH_WORKERS Celery workers. Every process's PID goes to $POPHEATH_DEPLOY_HOME/pids;
# stop.sh stops exactly those. Services listen on 127.0.0.1 only.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/profile.sh"
mkdir -p "$PIDS" "$LOGS" "$POPHEATH_SHARED"
install -d -m 700 "$POPHEATH_SECRETS_DIR"

as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
new_secret() {  # create a secret file once, readable only by its owner
    local file="$POPHEATH_SECRETS_DIR/$1"
    [ -s "$file" ] || (umask 077 && "$VENV_BIN/python" -c "$2" > "$file")
}
new_secret db_password 'import secrets; print(secrets.token_urlsafe(24), end="")'
new_secret jwt_secret 'import secrets; print(secrets.token_urlsafe(32), end="")'
new_secret fernet_key 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode(), end="")'
new_secret admin_password 'import secrets; print(secrets.token_urlsafe(12), end="")'
[ -s "$POPHEATH_SECRETS_DIR/airflow_passwords.json" ] || (umask 077 && printf '{"admin": "%s"}' \
    "$(secret POPHEATH_ADMIN_PASSWORD admin_password)" > "$POPHEATH_SECRETS_DIR/airflow_passwords.json")
[ -f "$POPHEATH_CONFIG" ] || cp "$REPO/deploy/popheath.production.toml" "$POPHEATH_CONFIG"

airflow_environment
wait_port() {  # wait until something listens on 127.0.0.1:$1
    for _ in $(seq 1 120); do (echo > "/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.5; done
    echo "nothing listening on port $1 after 60 s; see $LOGS" >&2; return 1
}

if [ "$POPHEATH_PG_MANAGED" = 1 ]; then
    PGBIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
    if [ ! -s "$PGDATA/PG_VERSION" ]; then
        install -d -m 700 "$PGDATA"
        if [ "$(id -u)" = 0 ]; then chown -R postgres "$POPHEATH_PG_ROOT"; fi
        pwfile="$(mktemp)"
        secret POPHEATH_DB_PASSWORD db_password > "$pwfile"
        [ "$(id -u)" = 0 ] && chown postgres "$pwfile"
        as_postgres "$PGBIN/initdb" -D "$PGDATA" -A scram-sha-256 -U postgres --pwfile="$pwfile" > "$LOGS/initdb.log"
        rm -f "$pwfile"
    fi
    as_postgres "$PGBIN/pg_ctl" -D "$PGDATA" -l "$POPHEATH_PG_ROOT/postgres.log" -w start \
        -o "-p $POPHEATH_PG_PORT -c listen_addresses=127.0.0.1 -k $PGDATA" > /dev/null
    head -1 "$PGDATA/postmaster.pid" > "$PIDS/postgres.pid"
    export PGPASSWORD="$(secret POPHEATH_DB_PASSWORD db_password)"
    psql_admin() { "$PGBIN/psql" -h 127.0.0.1 -p "$POPHEATH_PG_PORT" -U postgres -qtAX "$@"; }
    psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = 'popheath'" | grep -q 1 \
        || psql_admin -c "CREATE ROLE popheath LOGIN PASSWORD '$PGPASSWORD'"
    psql_admin -c "SELECT 1 FROM pg_database WHERE datname = 'airflow'" | grep -q 1 \
        || psql_admin -c "CREATE DATABASE airflow OWNER popheath"
    unset PGPASSWORD
fi

redis-server --port "$POPHEATH_REDIS_PORT" --bind 127.0.0.1 --dir "$POPHEATH_DEPLOY_HOME" \
    --daemonize yes --pidfile "$PIDS/redis.pid" --logfile "$LOGS/redis.log" --save ""
wait_port "$POPHEATH_REDIS_PORT"

airflow db migrate > "$LOGS/db-migrate.log" 2>&1

start() {  # start one long-running process in the background, remembering its PID
    local name="$1"; shift
    setsid nohup "$@" > "$LOGS/$name.log" 2>&1 < /dev/null &
    echo $! > "$PIDS/$name.pid"
}
start api-server airflow api-server --port "$POPHEATH_API_PORT" --host 127.0.0.1
start scheduler airflow scheduler
start dag-processor airflow dag-processor
start triggerer airflow triggerer
for n in $(seq 1 "$POPHEATH_WORKERS"); do
    POPHEATH_WORKER_NAME="worker$n" start "worker$n" airflow celery worker \
        --celery-hostname "worker$n@%h" --concurrency "$AIRFLOW__CELERY__WORKER_CONCURRENCY" --skip-serve-logs
done
wait_port "$POPHEATH_API_PORT"
echo "Airflow API and UI: http://127.0.0.1:$POPHEATH_API_PORT (user admin, password in $POPHEATH_SECRETS_DIR/admin_password)"
echo "workers: $POPHEATH_WORKERS; logs: $LOGS; PIDs: $PIDS"
