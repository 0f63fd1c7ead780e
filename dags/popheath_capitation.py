"""popheath_capitation: cost every activity record -> capitation baselines, prospective model and report.

Quarterly or on demand, for the financial year in settings (``capitation.year_start``). Emits
the baselines asset when the report is written.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Asset, CronTriggerTimetable, chain, dag, task

from popheath.orchestration import task_defaults

# Features, scores and segments at the start of the costed year and the year before, then cost -> capitation.
STEPS = (
    "features_previous_year",
    "features_year_start",
    "score_year_start",
    "segment_year_start",
    "cost_previous_year",
    "cost_year",
    "capitation",
)
BASELINES = Asset("popheath-capitation-baselines", uri="file:///popheath/outputs/capitation")


@dag(
    dag_id="popheath_capitation",
    description="Capitation baselines and the Year of Care report",
    doc_md=__doc__,
    schedule=CronTriggerTimetable("0 4 1 1,4,7,10 *", timezone="Europe/London"),
    start_date=pendulum.datetime(2025, 1, 1, tz="Europe/London"),
    catchup=False,
    max_active_runs=1,
    tags=["popheath", "capitation"],
    default_args=task_defaults(owner="popheath-pricing", retries=1),
)
def popheath_capitation() -> None:
    """Wire the costing stages in the order of ``popheath.pipeline.capitation_steps``; each calls its stage."""

    def step(position: int, task_id: str):  # type: ignore[no-untyped-def]
        @task(task_id=task_id)
        def run(**context) -> dict:  # type: ignore[no-untyped-def]
            from popheath import orchestration

            return orchestration.capitation_step(position, context)

        return run()

    @task(outlets=[BASELINES])
    def record_success(**context) -> None:  # type: ignore[no-untyped-def]
        from popheath import orchestration

        orchestration.finish_run("popheath_capitation", context)

    chain(*[step(position, task_id) for position, task_id in enumerate(STEPS)], record_success())


popheath_capitation()
