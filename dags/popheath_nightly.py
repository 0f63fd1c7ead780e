"""popheath_nightly: ingest every delivery -> freshness gate -> link -> features -> score -> segment -> publish.

Starts paused. Runs daily at 02:00 once unpaused; the logical date is the as-of date (or the
``as_of`` param when triggered by hand). Each source delivery is ingested by its own mapped task
into its own DuckDB partition file, and one task merges them, so parallel tasks never contend for
the warehouse's writer lock. The freshness gate fails the run before publish when a source is
stale (the last good list release stays current) unless the ``allow_stale`` param is set. The
Data Docs (Great Expectations) run beside the chain and never hold it up. It also runs when a new
champion model is registered (the ``popheath_train`` DAG's asset).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Asset, AssetOrTimeSchedule, CronTriggerTimetable, Param, TriggerRule, chain, dag, task

from popheath.orchestration import CHAMPION_ASSET, LISTS_ASSET, task_defaults
from popheath.pipeline import branches, task_ids

CHAMPION = Asset(**CHAMPION_ASSET)
LISTS = Asset(**LISTS_ASSET)


@dag(
    dag_id="popheath_nightly",
    description="Nightly risk lists: ingest, link, features, score, segment, publish",
    doc_md=__doc__,
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("0 2 * * *", timezone="Europe/London"), assets=CHAMPION
    ),
    start_date=pendulum.datetime(2025, 1, 1, tz="Europe/London"),
    catchup=False,
    is_paused_upon_creation=True,
    max_active_runs=1,
    tags=["popheath", "nightly"],
    params={
        "as_of": Param(None, type=["null", "string"], format="date", description="as-of date (YYYY-MM-DD)"),
        "allow_stale": Param(
            False, type="boolean", description="publish although a source is stale (the run report shows it in red)"
        ),
        "full": Param(
            False, type="boolean", description="rebuild links and clinical tables from all staging rows (rebuild.full)"
        ),
    },
    default_args=task_defaults(owner="popheath-data-team", retries=2),
)
def popheath_nightly() -> None:
    """Wire the nightly stages; every task calls the same stage function as the CLI."""

    @task
    def list_deliveries(**context) -> list[str]:  # type: ignore[no-untyped-def]
        from popheath import orchestration

        return orchestration.list_deliveries(context)

    # Retries cover lost workers and transient errors; a bad extract fails at once with its error line.
    @task(map_index_template="{{ task.op_kwargs['delivery'] }}")
    def ingest_delivery(delivery: str, **context) -> str:  # type: ignore[no-untyped-def]
        from airflow.sdk.exceptions import AirflowFailException

        from popheath import orchestration
        from popheath.errors import InputError

        try:
            return orchestration.ingest_partition(delivery, context)
        except InputError as error:
            raise AirflowFailException(str(error)) from error

    @task
    def merge_ingest(partitions: list[str], **context) -> dict:  # type: ignore[no-untyped-def]
        from popheath import orchestration

        return orchestration.merge_partitions(list(partitions), context)

    def step(task_id: str, **options):  # type: ignore[no-untyped-def]
        @task(task_id=task_id, **options)
        def run(**context) -> dict:  # type: ignore[no-untyped-def]
            from popheath import orchestration

            return orchestration.run_pipeline_step("nightly", task_id, context)

        return run()

    @task(outlets=[LISTS])
    def record_success(**context) -> None:  # type: ignore[no-untyped-def]
        from popheath import orchestration

        orchestration.finish_run("popheath_nightly", context)

    # Order and task ids from popheath.pipeline.nightly_steps: ingest first (fanned out per delivery,
    # then merged), the run report last, the steps off the critical path (the Data Docs) beside the
    # chain after the task they follow; options here are wiring only.
    ingest_id, *middle, report_id = task_ids("nightly")
    beside = branches("nightly")
    options = {
        "score": {"inlets": [CHAMPION]},
        "publish": {"retries": 1},
        # Staleness does not change within a night: a retry would refuse the run the same way, later.
        "freshness": {"retries": 0},
        # Great Expectations is deterministic on the same sample: a retry would fail the same way.
        "data_docs": {"retries": 0},
        # The run report is written whatever happened upstream: a failed night is when it matters most.
        report_id: {"trigger_rule": TriggerRule.ALL_DONE, "retries": 0},
    }
    tasks = {task_id: step(task_id, **options.get(task_id, {})) for task_id in middle}
    tasks[ingest_id] = merge_ingest(ingest_delivery.expand(delivery=list_deliveries()))
    main = [tasks[task_id] for task_id in middle if task_id not in beside]
    chain(tasks[ingest_id], *main, record_success())
    for task_id, after in beside.items():
        tasks[after] >> tasks[task_id]
    [main[-1], *(tasks[task_id] for task_id in beside)] >> step(report_id, **options[report_id])


popheath_nightly()
