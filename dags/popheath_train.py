"""popheath_train: features at the training and test dates -> train -> evaluate/register -> promote.

Monthly or on demand. When the challenger passes the champion gate, the champion asset is
updated, which triggers ``popheath_nightly`` to rescore with it.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Asset, CronTriggerTimetable, dag, task

from popheath.orchestration import task_defaults

CHAMPION = Asset("popheath-champion-model", uri="file:///popheath/models/champion")


@dag(
    dag_id="popheath_train",
    description="Train, evaluate, register and promote the avoidable-admission risk models",
    doc_md=__doc__,
    schedule=CronTriggerTimetable("0 3 1 * *", timezone="Europe/London"),
    start_date=pendulum.datetime(2025, 1, 1, tz="Europe/London"),
    catchup=False,
    max_active_runs=1,
    tags=["popheath", "models"],
    default_args=task_defaults(owner="popheath-data-team", retries=1),
)
def popheath_train() -> None:
    """Wire the training stages; every task calls the same stage function as the CLI."""

    @task
    def features_train(**context) -> dict:  # type: ignore[no-untyped-def]
        from popheath import orchestration

        on = orchestration.training_dates(context)["train_as_of"]
        return orchestration.run_stage("features", context, on=on)

    @task
    def features_test(**context) -> dict:  # type: ignore[no-untyped-def]
        from popheath import orchestration

        on = orchestration.training_dates(context)["test_as_of"]
        return orchestration.run_stage("features", context, on=on)

    # Training is deterministic: a retry would fail the same way.
    @task(retries=0)
    def train(**context) -> dict:  # type: ignore[no-untyped-def]
        from popheath import orchestration

        dates = orchestration.training_dates(context)
        return orchestration.run_stage("train", context, **dates)

    @task(retries=0)
    def promote(**context) -> dict:  # type: ignore[no-untyped-def]
        from popheath import orchestration

        return orchestration.run_stage("promote", context)

    @task.short_circuit
    def promoted(result: dict) -> bool:
        return bool(result["summary"].get("promoted"))

    @task(outlets=[CHAMPION])
    def announce_champion(**context) -> None:  # type: ignore[no-untyped-def]
        from popheath import orchestration

        orchestration.finish_run("popheath_train", context)

    decision = promote()
    features_train() >> features_test() >> train() >> decision
    promoted(decision) >> announce_champion()


popheath_train()
