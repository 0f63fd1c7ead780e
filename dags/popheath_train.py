"""popheath_train: features at the training and test dates -> train -> evaluate/register -> promote.

Monthly or on demand. When the challenger passes the champion gate, the champion asset is
updated, which triggers ``popheath_nightly`` to rescore with it.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Asset, CronTriggerTimetable, chain, dag, task

from popheath.orchestration import CHAMPION_ASSET, task_defaults
from popheath.pipeline import task_ids

CHAMPION = Asset(**CHAMPION_ASSET)


@dag(
    dag_id="popheath_train",
    description="Train, evaluate, register and promote the avoidable-admission risk models",
    doc_md=__doc__,
    schedule=CronTriggerTimetable("0 3 1 * *", timezone="Europe/London"),
    start_date=pendulum.datetime(2025, 1, 1, tz="Europe/London"),
    catchup=False,
    is_paused_upon_creation=True,
    max_active_runs=1,
    tags=["popheath", "models"],
    default_args=task_defaults(owner="popheath-data-team", retries=1),
)
def popheath_train() -> None:
    """Wire the training stages; every task calls the same stage function as the CLI."""
    # Training and promotion are deterministic: a retry would fail the same way.
    options = {"train": {"retries": 0}, "promote": {"retries": 0}}

    def step(task_id: str):  # type: ignore[no-untyped-def]
        @task(task_id=task_id, **options.get(task_id, {}))
        def run(**context) -> dict:  # type: ignore[no-untyped-def]
            from popheath import orchestration

            return orchestration.run_pipeline_step("training", task_id, context)

        return run()

    @task.short_circuit
    def promoted(result: dict) -> bool:
        return bool(result["summary"].get("promoted"))

    @task(outlets=[CHAMPION])
    def announce_champion(**context) -> None:  # type: ignore[no-untyped-def]
        from popheath import orchestration

        orchestration.finish_run("popheath_train", context)

    # features at the training and test dates -> train -> promote, from popheath.pipeline.training_steps.
    *build, promote_id = task_ids("training")
    decision = step(promote_id)
    chain(*[step(task_id) for task_id in build], decision)
    promoted(decision) >> announce_champion()


popheath_train()
