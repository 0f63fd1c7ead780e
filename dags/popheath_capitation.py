"""popheath_capitation: cost every activity record -> capitation baselines, prospective model and report.

Quarterly or on demand, for the financial year in settings (``capitation.year_start``). Emits
the baselines asset when the report is written.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, CronTriggerTimetable, dag, task

BASELINES = Asset("popheath-capitation-baselines", uri="file:///popheath/outputs/capitation")


def _failed(context):  # type: ignore[no-untyped-def]
    from popheath import orchestration

    orchestration.on_failure(context)


@dag(
    dag_id="popheath_capitation",
    description="Capitation baselines and the Year of Care report",
    doc_md=__doc__,
    schedule=CronTriggerTimetable("0 4 1 1,4,7,10 *", timezone="Europe/London"),
    start_date=pendulum.datetime(2025, 1, 1, tz="Europe/London"),
    catchup=False,
    max_active_runs=1,
    tags=["popheath", "capitation"],
    default_args={
        "owner": "popheath-pricing",
        "retries": 1,
        "retry_delay": timedelta(minutes=2),
        "retry_exponential_backoff": True,
        "on_failure_callback": _failed,
    },
)
def popheath_capitation() -> None:
    """Wire the costing stages; every task calls the same stage function as the CLI."""

    @task
    def cost(**context) -> dict:  # type: ignore[no-untyped-def]
        from popheath import orchestration

        year = orchestration.capitation_year(context)
        return orchestration.run_stage("cost", context, year=year)

    @task(outlets=[BASELINES])
    def capitation(**context) -> dict:  # type: ignore[no-untyped-def]
        from popheath import orchestration

        year = orchestration.capitation_year(context)
        result = orchestration.run_stage("capitation", context, year=year)
        orchestration.finish_run("popheath_capitation", context)
        return result

    cost() >> capitation()


popheath_capitation()
