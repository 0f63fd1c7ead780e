"""``make bench``: the pipeline on generated ICSs of several sizes, timed stage by stage.

Each stage runs as its own ``popheath`` process (as a nightly job would), so its peak resident
memory is measured alone by polling the process. The *floor* is one DuckDB pass over every raw
input file, reading every column once: no pipeline can load the data faster than that.
Generated data is cached under ``benchmarks/cache/<people>/`` (not in git) and reused.

The cold nightly runs on every delivery but the last month's activity; the *warm* nightly then
runs after that month arrives (ingest loads it alone, link and the clinical tables follow what it
changed), beside the floor of that month's files alone.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import duckdb
import psutil
from rich.console import Console

from popheath import config, pipeline
from popheath.config import PROJECT_ROOT

console = Console()
CACHE = PROJECT_ROOT / "benchmarks" / "cache"
RESULTS = PROJECT_ROOT / "benchmarks" / "results.md"
# The cold nightly reads every delivery but the last month's from here (split_last_month).
ARRIVED = "arrived"
POLL_SECONDS = 0.05


@dataclass(frozen=True)
class Measure:
    """Wall time and peak resident memory of one measured step."""

    name: str
    seconds: float
    peak_rss_mb: float
    group: str


def measured(command: list[str], name: str, group: str) -> Measure:
    """Run a command, polling its peak RSS (with children); fail loudly on a non-zero exit."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    watched = psutil.Process(process.pid)
    peak = 0
    while process.poll() is None:
        try:
            rss = watched.memory_info().rss + sum(c.memory_info().rss for c in watched.children(recursive=True))
            peak = max(peak, rss)
        except psutil.Error:
            pass
        time.sleep(POLL_SECONDS)
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        stderr = process.stderr.read() if process.stderr else ""
        raise SystemExit(f"benchmark step {name} failed ({process.returncode}):\n{stderr[-3000:]}")
    return Measure(name, seconds, peak / 2**20, group)


def floor_seconds(raw: Path, threads: int, scratch: Path) -> float:
    """Seconds for DuckDB to read every column of every raw file once into tables, with no checks (the floor)."""
    scratch.unlink(missing_ok=True)
    con = duckdb.connect(str(scratch))
    con.execute(f"SET threads = {threads}")
    started = time.perf_counter()
    for source in sorted(p for p in raw.iterdir() if p.is_dir()):
        for reader, pattern in (("read_parquet", "*.parquet"), ("read_csv", "*.csv")):
            files = [str(p) for p in source.rglob(pattern)]
            if files:
                con.execute(
                    f"CREATE TABLE {source.name}_{reader} AS SELECT * FROM {reader}($f, union_by_name = true)",
                    {"f": files},
                )
    seconds = time.perf_counter() - started
    con.close()
    scratch.unlink(missing_ok=True)
    return seconds


def split_last_month(raw: Path, arrived: Path, new: Path) -> str:
    """Hard-link every delivery into ``arrived`` but the last month of activity, which goes to ``new``.

    The population register (one delivery) always arrives with the rest. Returns the last month.
    """
    folders = sorted(p for p in raw.glob("*/*") if p.is_dir())
    last = max(p.name for p in folders if p.parent.name != "population")
    for target in (arrived, new):
        subprocess.run(["rm", "-rf", str(target)], check=True)
    for folder in folders:
        target = new if folder.name == last and folder.parent.name != "population" else arrived
        (target / folder.parent.name).mkdir(parents=True, exist_ok=True)
        subprocess.run(["cp", "-al", str(folder), str(target / folder.parent.name / folder.name)], check=True)
    return last


def _write_config(root: Path, people: int, data_docs: bool = True, raw: str = "raw") -> Path:
    """Settings of one size reading deliveries from ``raw``; without Data Docs, an ingest under ``scratch/``."""
    work = "" if data_docs else "scratch/"
    path = root / ("popheath.toml" if data_docs else "popheath-no-docs.toml")
    path.write_text(
        "[paths]\n"
        f'raw = "{raw}"\ntruth = "truth"\nreference = "reference"\nwarehouse = "{work}warehouse/popheath.duckdb"\n'
        f'partitions = "{work}partitions"\noutputs = "{work}outputs"\nmodels = "models"\n'
        f"[lists]\ncapacity_per_pcn = {max(100, people // 2000)}\n"
        + ("" if data_docs else "[ingest]\ndata_docs = false\n"),
        encoding="utf-8",
    )
    return path


def _cli(cfg: Path) -> list[str]:
    return [sys.executable, "-m", "popheath.cli", "--config", str(cfg), "--log-level", "WARNING"]


def _cli_args(step: pipeline.Step) -> list[str]:
    args = [step.stage.replace("_", "-"), "--as-of", step.as_of.isoformat()]
    for key, value in step.kwargs.items():
        args += [f"--{key.replace('_', '-')}", value.isoformat() if isinstance(value, date) else str(value)]
    return args


def bench_size(people: int, seed: int) -> tuple[list[Measure], dict[str, float]]:
    """Generate (or reuse) one ICS and time every stage; returns measures and totals."""
    root = CACHE / str(people)
    root.mkdir(parents=True, exist_ok=True)
    cfg = _write_config(root, people, raw=ARRIVED)
    settings = config.load(cfg)
    popheath = _cli(cfg)
    measures: list[Measure] = []
    marker = root / "raw" / ".complete"
    if not marker.exists():
        measures.append(
            measured(
                popheath + ["synth", "--people", str(people), "--seed", str(seed), "--out", str(root)],
                "synth",
                "generate",
            )
        )
        marker.touch()
    for stale in (settings.paths.warehouse, settings.paths.outputs, settings.paths.models, settings.paths.partitions):
        subprocess.run(["rm", "-rf", str(stale)], check=True)
    new_month = root / "new_month"
    month = split_last_month(root / "raw", settings.paths.raw, new_month)
    console.print(f"  cold nightly without the {month} deliveries; the warm nightly after they arrive")
    floor = floor_seconds(settings.paths.raw, settings.duckdb.threads, root / "floor.duckdb")
    floor_new = floor_seconds(new_month, settings.duckdb.threads, root / "floor.duckdb")
    # Reference, not part of the nightly: the same ingest keeping no sample for Great Expectations.
    reference = _write_config(root, people, data_docs=False, raw=ARRIVED)
    subprocess.run(["rm", "-rf", str(root / "scratch")], check=True)
    no_docs = measured(_cli(reference) + ["ingest"], "ingest, Data Docs off", "reference")
    measures.append(no_docs)
    subprocess.run(["rm", "-rf", str(root / "scratch")], check=True)
    as_of = settings.as_of
    nightly = pipeline.nightly_steps(settings, as_of)
    groups = [
        ("nightly", nightly[:3]),
        ("training", pipeline.training_steps(settings, as_of)),
        ("nightly", nightly[3:]),
        ("capitation", pipeline.capitation_steps(settings, as_of)),
    ]
    warm = [("warm", nightly)]
    for group, steps in [*groups, *warm]:
        if group == "warm":  # the next month's deliveries arrive
            for folder in sorted(new_month.glob("*/*")):
                subprocess.run(["cp", "-al", str(folder), str(settings.paths.raw / folder.parent.name)], check=True)
        for step in steps:
            measures.append(measured(popheath + _cli_args(step), step.label, group))
            console.print(
                f"  {people:>9,} {group:<10} {measures[-1].name:<26} {measures[-1].seconds:8.1f}s "
                f"{measures[-1].peak_rss_mb:8.0f} MB"
            )
    raw_rows = _raw_rows(settings.paths.raw)
    nightly_total = sum(m.seconds for m in measures if m.group == "nightly")
    warm_total = sum(m.seconds for m in measures if m.group == "warm")
    ingest = next(m.seconds for m in measures if m.name == "ingest")
    totals = {
        "floor": floor,
        "ingest": ingest,
        "ingest_no_docs": no_docs.seconds,
        "nightly": nightly_total,
        "ratio": nightly_total / floor if floor else float("nan"),
        "raw_rows": raw_rows,
        "rows_per_second": raw_rows / nightly_total if nightly_total else 0.0,
        "peak_rss_mb": max((m.peak_rss_mb for m in measures if m.group == "nightly"), default=0.0),
        "warm": warm_total,
        "floor_new": floor_new,
        "warm_peak_rss_mb": max((m.peak_rss_mb for m in measures if m.group == "warm"), default=0.0),
    }
    return measures, totals


def _raw_rows(raw: Path) -> float:
    con = duckdb.connect()
    total = 0
    for pattern in ("*.parquet", "*.csv"):
        files = [str(p) for p in raw.rglob(pattern)]
        if files:
            reader = "read_parquet" if pattern.endswith("parquet") else "read_csv"
            row = con.execute(f"SELECT count(*) FROM {reader}($f, union_by_name = true)", {"f": files}).fetchone()
            total += row[0] if row else 0
    return float(total)


def render(results: dict[int, tuple[list[Measure], dict[str, float]]]) -> str:
    """The results as Markdown, with the machine's cores and memory."""
    memory_gb = psutil.virtual_memory().total / 2**30
    lines = [
        "# Benchmark results",
        "",
        f"Run {datetime.now():%Y-%m-%d %H:%M} on {os.cpu_count()} cores, {memory_gb:.0f} GiB memory, "
        f"{platform.machine()}, Python {platform.python_version()}, DuckDB {duckdb.__version__}. "
        "Produced by `make bench`.",
        "",
    ]
    base = None
    for people, (measures, totals) in sorted(results.items()):
        per_person = totals["nightly"] / people
        base = base or per_person
        lines += [
            f"## {people:,} people",
            "",
            "| step | group | seconds | peak RSS (MB) |",
            "|---|---|---:|---:|",
            *[f"| {m.name} | {m.group} | {m.seconds:.1f} | {m.peak_rss_mb:.0f} |" for m in measures],
            "",
            f"- raw rows: {totals['raw_rows']:,.0f}; "
            f"floor (one DuckDB pass over all raw files): {totals['floor']:.1f} s",
            *(
                [
                    f"- ingest: {totals['ingest']:.1f} s = {totals['ingest'] / totals['floor']:.1f} x floor; "
                    f"with Data Docs off: {totals['ingest_no_docs']:.1f} s = "
                    f"{totals['ingest_no_docs'] / totals['floor']:.1f} x floor"
                ]
                if "ingest_no_docs" in totals
                else []
            ),
            f"- nightly total: {totals['nightly']:.1f} s = {totals['ratio']:.1f} x floor; "
            f"{totals['rows_per_second']:,.0f} raw rows/s; peak RSS {totals['peak_rss_mb']:.0f} MB",
            f"- nightly seconds per 1,000 people: {1000 * per_person:.3f} "
            f"({per_person / base:.2f} x the smallest size)",
            *(
                [
                    f"- warm nightly (after one new month of deliveries): {totals['warm']:.1f} s = "
                    f"{totals['warm'] / totals['nightly']:.2f} x the cold nightly = "
                    f"{totals['warm'] / totals['floor_new']:.1f} x the floor of that month alone "
                    f"({totals['floor_new']:.2f} s); peak RSS {totals['warm_peak_rss_mb']:.0f} MB"
                ]
                if "warm" in totals
                else []
            ),
            "",
        ]
    return "\n".join(lines)


def _save(people: int, measures: list[Measure], totals: dict[str, float]) -> None:
    """Keep one size's figures beside its cached data, so separate runs add up to one results file."""
    record = {"measures": [vars(m) for m in measures], "totals": totals, "at": f"{datetime.now():%Y-%m-%d %H:%M}"}
    (CACHE / str(people) / "result.json").write_text(json.dumps(record, indent=1), encoding="utf-8")


def _load_all() -> dict[int, tuple[list[Measure], dict[str, float]]]:
    """Every size measured so far (its latest run)."""
    found = {}
    for path in sorted(CACHE.glob("*/result.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        found[int(path.parent.name)] = ([Measure(**m) for m in record["measures"]], record["totals"])
    return found


def main(argv: list[str] | None = None) -> int:
    """Benchmark entry point (``make bench``)."""
    parser = argparse.ArgumentParser(prog="python -m popheath.bench", description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 3_200_000])
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    for people in args.sizes:
        console.rule(f"{people:,} people")
        measures, totals = bench_size(people, args.seed)
        _save(people, measures, totals)
    markdown = render(_load_all())
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(markdown, encoding="utf-8")
    console.print(markdown)
    return 0
