# popheath production profile: environment for Airflow on PostgreSQL with Celery workers.
# Sourced by start.sh and stop.sh. Every value can be set from the environment first; secrets
# are read from files in $POPHEATH_SECRETS_DIR (created with mode 600 on first start, never in
# the repository) or from the environment variables named below.
#
#   POPHEATH_DEPLOY_HOME   state: Airflow home, PostgreSQL data, logs, PIDs   (default ~/.popheath-deploy)
#   POPHEATH_SHARED        shared storage for warehouse, partitions, outputs  (default $POPHEATH_DEPLOY_HOME/shared)
#   POPHEATH_CONFIG        popheath.toml every task reads                     (default $POPHEATH_SHARED/popheath.toml)
#   POPHEATH_WORKERS       Celery workers to start on this host               (default 2)
#   POPHEATH_PG_PORT, POPHEATH_REDIS_PORT, POPHEATH_API_PORT                   (defaults 54329, 63799, 8089)
#   POPHEATH_PG_MANAGED    1: start a local PostgreSQL; 0: use POPHEATH_SQL_ALCHEMY_CONN as given
#   POPHEATH_PG_ROOT       the local PostgreSQL's data and log (default $POPHEATH_DEPLOY_HOME/postgres;
#                          when run as root it must be reachable by the postgres user)
#   secrets: POPHEATH_DB_PASSWORD, POPHEATH_FERNET_KEY, POPHEATH_JWT_SECRET, POPHEATH_ADMIN_PASSWORD
#            (or files db_password, fernet_key, jwt_secret, admin_password in $POPHEATH_SECRETS_DIR)

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export POPHEATH_DEPLOY_HOME="${POPHEATH_DEPLOY_HOME:-$HOME/.popheath-deploy}"
export POPHEATH_SHARED="${POPHEATH_SHARED:-$POPHEATH_DEPLOY_HOME/shared}"
export POPHEATH_CONFIG="${POPHEATH_CONFIG:-$POPHEATH_SHARED/popheath.toml}"
export POPHEATH_SECRETS_DIR="${POPHEATH_SECRETS_DIR:-$POPHEATH_DEPLOY_HOME/secrets}"
export POPHEATH_WORKERS="${POPHEATH_WORKERS:-2}"
export POPHEATH_PG_PORT="${POPHEATH_PG_PORT:-54329}"
export POPHEATH_REDIS_PORT="${POPHEATH_REDIS_PORT:-63799}"
export POPHEATH_API_PORT="${POPHEATH_API_PORT:-8089}"
export POPHEATH_PG_MANAGED="${POPHEATH_PG_MANAGED:-1}"
export POPHEATH_PG_ROOT="${POPHEATH_PG_ROOT:-$POPHEATH_DEPLOY_HOME/postgres}"
PGDATA="$POPHEATH_PG_ROOT/data"
VENV_BIN="${POPHEATH_VENV_BIN:-$REPO/.venv/bin}"
PIDS="$POPHEATH_DEPLOY_HOME/pids"
LOGS="$POPHEATH_DEPLOY_HOME/logs"

# Read a secret from the environment, else from its file (generated on first use by start.sh).
secret() {
    local variable="$1" file="$POPHEATH_SECRETS_DIR/$2"
    if [ -n "${!variable:-}" ]; then printf '%s' "${!variable}"; else cat "$file"; fi
}

airflow_environment() {
    export AIRFLOW_HOME="$POPHEATH_DEPLOY_HOME/airflow"
    export AIRFLOW__CORE__DAGS_FOLDER="$REPO/dags"
    export AIRFLOW__CORE__LOAD_EXAMPLES=False
    export AIRFLOW__CORE__EXECUTOR=CeleryExecutor
    export AIRFLOW__CORE__PARALLELISM=16
    export AIRFLOW__CORE__FERNET_KEY="$(secret POPHEATH_FERNET_KEY fernet_key)"
    export AIRFLOW__API_AUTH__JWT_SECRET="$(secret POPHEATH_JWT_SECRET jwt_secret)"
    export AIRFLOW__API__SECRET_KEY="$AIRFLOW__API_AUTH__JWT_SECRET"
    local password
    password="$(secret POPHEATH_DB_PASSWORD db_password)"
    export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="${POPHEATH_SQL_ALCHEMY_CONN:-postgresql+psycopg2://popheath:$password@127.0.0.1:$POPHEATH_PG_PORT/airflow}"
    export AIRFLOW__CELERY__BROKER_URL="redis://127.0.0.1:$POPHEATH_REDIS_PORT/0"
    export AIRFLOW__CELERY__RESULT_BACKEND="db+postgresql://popheath:$password@127.0.0.1:$POPHEATH_PG_PORT/airflow"
    export AIRFLOW__CELERY__WORKER_CONCURRENCY="${POPHEATH_WORKER_CONCURRENCY:-2}"
    # How long a task may go without a heartbeat (a lost worker) before it is failed and retried.
    export AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT="${POPHEATH_TASK_HEARTBEAT_TIMEOUT:-300}"
    export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://127.0.0.1:$POPHEATH_API_PORT/execution/"
    export AIRFLOW__API__BASE_URL="http://127.0.0.1:$POPHEATH_API_PORT"
    export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin"
    export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE="$POPHEATH_SECRETS_DIR/airflow_passwords.json"
    # Task instances record which worker ran them (the worker's name, not just the host's).
    export AIRFLOW__CORE__HOSTNAME_CALLABLE="popheath.orchestration.worker_name"
    export PATH="$VENV_BIN:$PATH"
}
