"""DAG integrity: the DAG files import quickly and cleanly, and are wired as documented."""

import subprocess
import sys
import time
from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture(scope="module")
def dagbag():  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_no_import_errors(dagbag) -> None:  # type: ignore[no-untyped-def]
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == {"popheath_nightly", "popheath_train", "popheath_capitation"}


@pytest.mark.parametrize("path", sorted(DAGS.glob("*.py")), ids=lambda p: p.name)
def test_each_dag_file_imports_in_under_two_seconds_without_heavy_modules(path: Path) -> None:
    probe = (
        "import sys, time; import airflow.sdk; started = time.perf_counter(); "
        f"import runpy; runpy.run_path({str(path)!r}); "
        "print(time.perf_counter() - started); "
        "print(','.join(m for m in ('lightgbm', 'duckdb', 'polars', 'sklearn', 'splink', 'great_expectations') "
        "if m in sys.modules))"
    )
    started = time.perf_counter()
    output = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split(
        "\n"
    )
    assert float(output[0]) < 2.0, f"{path.name} took {output[0]} s to import"
    assert output[1] == "", f"{path.name} imports heavy modules at parse time: {output[1]}"
    assert time.perf_counter() - started < 60


def _edges(dag) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return {(task.task_id, down) for task in dag.tasks for down in task.downstream_task_ids}


def test_nightly_wiring(dagbag) -> None:  # type: ignore[no-untyped-def]
    dag = dagbag.dags["popheath_nightly"]
    assert {
        ("list_deliveries", "ingest_delivery"),
        ("ingest_delivery", "merge_ingest"),
        ("merge_ingest", "freshness"),
        ("freshness", "link"),
        ("link", "features"),
        ("features", "score"),
        ("score", "segment"),
        ("segment", "publish"),
        ("publish", "record_success"),
        ("publish", "report"),
        ("merge_ingest", "data_docs"),
        ("data_docs", "report"),
    } <= _edges(dag)
    # The Data Docs sit beside the chain: nothing on the way to publish waits for them.
    assert dag.task_dict["data_docs"].downstream_task_ids == {"report"}
    assert "data_docs" not in dag.task_dict["publish"].get_flat_relative_ids(upstream=True)
    assert dag.task_dict["report"].trigger_rule == "all_done"
    assert set(dag.params) == {"as_of", "allow_stale", "full"} and dag.params["allow_stale"] is False
    assert dag.params["full"] is False
    assert dag.catchup is False
    assert dag.task_dict["ingest_delivery"].retries == 2  # bad extracts fail at once via AirflowFailException
    assert dag.task_dict["link"].retries == 2
    assert dag.task_dict["link"].retry_exponential_backoff


def test_train_and_capitation_wiring(dagbag) -> None:  # type: ignore[no-untyped-def]
    train = dagbag.dags["popheath_train"]
    assert {
        ("features_train", "features_test"),
        ("features_test", "train"),
        ("train", "promote"),
        ("promote", "promoted"),
        ("promoted", "announce_champion"),
    } <= _edges(train)
    assert [a.name for a in train.get_task("announce_champion").outlets] == ["popheath-champion-model"]
    capitation = dagbag.dags["popheath_capitation"]
    from popheath import config, pipeline

    steps = pipeline.capitation_steps(config.Settings(), config.Settings().as_of)
    order = [
        "features_previous_year",
        "features_year_start",
        "score_year_start",
        "segment_year_start",
        "cost_previous_year",
        "cost_year",
        "capitation",
        "record_success",
    ]
    assert len(steps) == len(order) - 1
    assert {(a, b) for a, b in zip(order, order[1:], strict=False)} <= _edges(capitation)


def test_tags_owners_and_no_cycles(dagbag) -> None:  # type: ignore[no-untyped-def]
    for dag_id in dagbag.dag_ids:
        dag = dagbag.dags[dag_id]
        assert "popheath" in dag.tags
        assert all(task.owner.startswith("popheath") for task in dag.tasks)
        assert all(task.on_failure_callback for task in dag.tasks)
        assert dag.is_paused_upon_creation is True  # unpausing is the data team's decision
        dag.check_cycle()  # raises on a cycle
