"""``popheath <stage>``: one sub-command per pipeline stage, calling the same ``run`` as the DAG tasks."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

from rich.console import Console

from popheath import config, logs, pipeline
from popheath.errors import PopheathError
from popheath.results import print_result

log = logging.getLogger("popheath.cli")
console = Console()


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from error


# Each stage: module under popheath.stages, one-line help, and a function adding its own flags
# (which become keyword arguments of run()).
ArgAdder = Callable[[argparse.ArgumentParser], None]


FULL_HELP = "rebuild from all staging rows instead of only what changed since the last run (rebuild.full)"


def _no_args(parser: argparse.ArgumentParser) -> None:
    return None


def _rebuild_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--full", action="store_true", help=FULL_HELP)


def _ingest_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", dest="sources", action="append", help="only this source (repeatable)")
    parser.add_argument("paths", nargs="*", type=Path, help="files or delivery folders (default: all under paths.raw)")
    parser.add_argument("--force", action="store_true", default=None, help="reload deliveries even if unchanged")


def _freshness_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--allow-stale",
        action="store_true",
        default=None,
        help="go on to publish although a source is stale (the run report shows it in red)",
    )


def _train_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--train-as-of", type=_date, help="as-of date of the training set")
    parser.add_argument("--test-as-of", type=_date, help="as-of date of the temporal test set")


def _promote_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model-name", help="only this model (default: every outcome in settings model.outcomes)")
    parser.add_argument("--version", help="challenger version (default: the newest registered)")


def _segment_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--diff-rules",
        type=Path,
        metavar="NEW_RULES.yaml",
        help="write who would move between segments under these rules (Markdown + CSV); change nothing",
    )


def _evaluate_lists_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--release", dest="release_ids", action="append", help="only this release id (repeatable)")


def _cost_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--year", type=int, help="financial year starting April YYYY (default from settings)")


STAGES: dict[str, tuple[str, str, ArgAdder]] = {
    "ingest": ("ingest", "load raw extracts: map, validate, quarantine, audit", _ingest_args),
    "freshness": (
        "freshness",
        "stop the run before publish when a source has sent no new data for too long",
        _freshness_args,
    ),
    "data-docs": (
        "data_docs",
        "Great Expectations: validate each source's checked sample and write the Data Docs (never gates the load)",
        _no_args,
    ),
    "link": ("link", "link every source to one person key (deterministic + Splink)", _rebuild_args),
    "features": ("features", "clinical logic, cohorts, features and labels at the as-of date", _rebuild_args),
    "train": ("train", "train, evaluate and register candidate models", _train_args),
    "promote": ("promote", "promote the newest model to champion if it passes the gate", _promote_args),
    "score": ("score", "score the population with the champion model, with reasons and drift", _no_args),
    "segment": ("segment", "population segments, risk tiers and the pyramid", _segment_args),
    "publish": ("publish", "publish per-PCN lists atomically (write-audit-publish)", _no_args),
    "report": ("report", "nightly run report (HTML and JSON) from the stage records and warehouse", _no_args),
    "evaluate-lists": (
        "evaluate_lists",
        "did the lists help: calibration by decile, tier and practice; contacted vs matched people",
        _evaluate_lists_args,
    ),
    "cost": ("cost", "cost every activity record", _cost_args),
    "capitation": ("capitation", "capitation baselines, prospective model and report", _cost_args),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every sub-command."""
    parser = argparse.ArgumentParser(prog="popheath", description=__doc__)
    parser.add_argument("--config", type=Path, help="settings file (default: $POPHEATH_CONFIG or ./popheath.toml)")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    for name, (module_name, help_text, add_args) in STAGES.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--as-of", type=_date, help="as-of date (default: settings as_of)")
        sub.add_argument("--warehouse", type=Path, help="DuckDB file (default: settings paths.warehouse)")
        add_args(sub)
        sub.set_defaults(stage_module=module_name)

    synth = commands.add_parser("synth", help="generate a synthetic ICS: raw extracts plus truth/")
    synth.add_argument("--people", type=int, default=20_000)
    synth.add_argument("--seed", type=int, default=42)
    synth.add_argument("--out", type=Path, default=Path("data"))
    synth.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    synth.add_argument(
        "--acute-layout",
        choices=["ncdr", "hes"],
        default="ncdr",
        help="APC and OP as SUS+ in NCDR (tbl_Data_SEM_APCE + _Diag + _Proc, tbl_Data_SEM_OPA) or HES flat files",
    )
    synth.add_argument(
        "--asc-layout",
        choices=["national", "data_lake"],
        default="national",
        help="ASC-CLD as the national table (underscore headers) or the ICB data lake form (spaced headers)",
    )
    synth.add_argument(
        "--ecds-diagnosis-table",
        action="store_true",
        help="also write ECDS diagnoses as the separate EC_Diagnosis table (EC_Diagnosis_01..)",
    )
    synth.set_defaults(handler=_synth)

    demo = commands.add_parser("demo", help="generate a synthetic ICS and run every stage end to end")
    demo.add_argument("--people", type=int, default=20_000)
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument("--regenerate", action="store_true", help="regenerate the synthetic extracts")
    demo.add_argument("--retrain", action="store_true", help="train fresh models instead of the shipped champion")
    demo.add_argument("--allow-stale", action="store_true", help="publish although a source is stale")
    demo.add_argument("--full", action="store_true", help=FULL_HELP)
    demo.set_defaults(handler=_demo)

    quarantine = commands.add_parser("quarantine", help="inspect quarantined rows")
    quarantine.add_argument("action", choices=["show"])
    quarantine.add_argument("--source")
    quarantine.add_argument("--limit", type=int, default=20)
    quarantine.set_defaults(handler=_quarantine)

    serve = commands.add_parser("serve", help="coordinator web page and API for the current lists")
    serve.add_argument("--host", help="address to listen on (default: settings serve.host)")
    serve.add_argument("--port", type=int, help="port (default: settings serve.port)")
    serve.add_argument("--add-token", metavar="USER", help="create or replace USER's token, print it once, and exit")
    serve.add_argument("--pcn", help="the PCN code the new token may see (with --add-token)")
    serve.set_defaults(handler=_serve)
    return parser


def _synth(args: argparse.Namespace, settings: config.Settings) -> None:
    from popheath.synth import generate
    from popheath.synth.params import CldRecords

    summary = generate.write(
        people=args.people,
        seed=args.seed,
        out=args.out,
        file_format=args.format,
        acute_layout=args.acute_layout,
        ecds_diagnosis_table=args.ecds_diagnosis_table,
        cld=dataclasses.replace(CldRecords(), layout=args.asc_layout),
    )
    print_result(summary, console)


def _demo(args: argparse.Namespace, settings: config.Settings) -> None:
    from popheath import demo

    if args.allow_stale:
        settings = config.with_overrides(settings, **{"freshness.allow_stale": True})
    demo.run(settings, people=args.people, seed=args.seed, regenerate=args.regenerate, retrain=args.retrain)


def _quarantine(args: argparse.Namespace, settings: config.Settings) -> None:
    from popheath.stages import ingest

    ingest.show_quarantine(settings, source=args.source, limit=args.limit, console=console)


def _serve(args: argparse.Namespace, settings: config.Settings) -> None:
    from popheath.errors import ConfigError
    from popheath.serve import auth, serve
    from popheath.serve.page_data import known_pcns

    if args.add_token:
        if not args.pcn or settings.serve.tokens_file is None:
            raise ConfigError("--add-token needs --pcn and a tokens file (settings [serve] tokens_file)")
        where, known = known_pcns(settings)
        if args.pcn not in known:
            shown = ", ".join(sorted(known)[:20]) + (" ..." if len(known) > 20 else "")
            raise ConfigError(f"PCN {args.pcn} is not in {where}; known PCNs: {shown or 'none'}")
        token = auth.add_token(settings.serve.tokens_file, args.add_token, args.pcn)
        console.print(f"token for {args.add_token} (PCN {args.pcn}), shown once; only its hash is stored:")
        console.print(token, highlight=False, soft_wrap=True)
        return
    serve(settings, host=args.host, port=args.port)


def _os_error_line(error: OSError) -> str:
    """``<path>: <reason>`` for an operating-system error (the path first, as for the other errors)."""
    reason = error.strerror or (str(error).splitlines()[0] if str(error) else type(error).__name__)
    if error.filename is None:
        return str(reason)
    target = f" -> {error.filename2}" if error.filename2 is not None else ""
    return f"{error.filename}{target}: {reason}"


def _from_damaged_database(error: BaseException) -> bool:
    """Whether a DuckDB I/O error (bad block checksum, short read) caused ``error``: then name the warehouse."""
    seen: BaseException | None = error
    while seen is not None:
        if type(seen).__name__ == "IOException" and type(seen).__module__.split(".")[0] in ("duckdb", "_duckdb"):
            return True
        if any(text in str(seen) for text in ("Corrupt database file", "Could not read enough bytes from file")):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``popheath`` command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logs.setup(args.log_level)
    settings: config.Settings | None = None
    try:
        settings = config.load(args.config)
        if getattr(args, "warehouse", None) is not None:
            settings = config.with_overrides(settings, **{"paths.warehouse": args.warehouse.resolve()})
        if getattr(args, "full", False):
            settings = config.with_overrides(settings, **{"rebuild.full": True})
        if hasattr(args, "handler"):
            args.handler(args, settings)
            return 0
        as_of = args.as_of or settings.as_of
        skip = {"config", "log_level", "command", "as_of", "warehouse", "stage_module", "full"}
        extra = {key: value for key, value in vars(args).items() if key not in skip and value is not None}
        print_result(pipeline.run_step(settings, pipeline.Step(args.stage_module, as_of, extra)), console)
    except PopheathError as error:
        line = str(error)
        if settings is not None and _from_damaged_database(error) and str(settings.paths.warehouse) not in line:
            line = f"{settings.paths.warehouse}: {line}"
        console.print(f"[red]error:[/red] {line}", highlight=False, soft_wrap=True)
        return 2
    except OSError as error:
        # Disk full, permission denied, a file where a folder should be: one line naming the path.
        console.print(f"[red]error:[/red] {_os_error_line(error)}", highlight=False, soft_wrap=True)
        return 2
    except Exception as error:
        # DuckDB errors that escaped a stage (e.g. a checksum failure on a damaged block read from Python):
        # one line naming the warehouse; anything else is a bug and keeps its traceback.
        if type(error).__module__.split(".")[0] not in ("duckdb", "_duckdb"):
            raise
        where = settings.paths.warehouse if settings is not None else "DuckDB"
        line = str(error).splitlines()[0] if str(error) else type(error).__name__
        console.print(f"[red]error:[/red] {where}: {line}", highlight=False, soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        console.print("[red]interrupted[/red]")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
