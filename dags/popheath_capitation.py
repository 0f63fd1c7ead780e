"""popheath_capitation: cost every activity record -> capitation baselines, prospective model and report.

Quarterly or on demand, for the financial year in settings (``capitation.year_start``). Emits
the baselines asset when the report is written.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Asset, CronTriggerTimetable, chain, dag, task

from popheath.orchestration import BASELINES_ASSET, task_defaults
from popheath.pipeline import task_ids

BASELINES = Asset(**BASELINES_ASSET)


@dag(
    dag_id="popheath_capitation",
    description="Capitation baselines and the Year of Care report",
    doc_md=__doc__,
    schedule=CronTriggerTimetable("0 4 1 1,4,7,10 *", timezone="Europe/London"),
    start_date=pendulum.datetime(2025, 1, 1, tz="Europe/London"),
    catchup=False,
    is_paused_upon_creation=True,
    max_active_runs=1,
    tags=["popheath", "capitation"],
    default_args=task_defaults(owner="popheath-pricing", retries=1),
)
def popheath_capitation() -> None:
    """Wire the costing stages in the order of ``popheath.pipeline.capitation_steps``; each calls its stage."""

    def step(task_id: str):  # type: ignore[no-untyped-def]
        @task(task_id=task_id)
        def run(**context) -> dict:  # type: ignore[no-untyped-def]
            from popheath import orchestration

            return orchestration.run_pipeline_step("capitation", task_id, context)

        return run()

    @task(outlets=[BASELINES])
    def record_success(**context) -> None:  # type: ignore[no-untyped-def]
        from popheath import orchestration

        orchestration.finish_run("popheath_capitation", context)

    chain(*[step(task_id) for task_id in task_ids("capitation")], record_success())


popheath_capitation()
