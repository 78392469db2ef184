"""The ``autotune`` command: tuning sessions, training, predictions, runs, fleets and reports.

Every subcommand takes ``--storage URL`` (else ``$AUTOTUNE_STORAGE``, else ``./results.db``),
``--adopt-database`` (to use a SQLite file that holds other tables) and, where its output is
data, ``--json``. Exit status: 0 done; 1 a failure while working (the database, a tuning session
where nothing completed, a result computed without the database); 2 bad input, with one line
naming what is wrong; 130 interrupted; 141 the reader of the output went away (``| head``).
Nothing a user can cause prints a traceback (``-vv`` logs it).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
import os
import sys
from collections.abc import Sequence

from .._errors import AutotuneError
from ._errors import UsageError, for_cli

__all__ = ["SpecError", "SpecFile", "build_parser", "load_spec", "main"]


def __getattr__(name: str) -> object:
    # The spec module builds the built-in suites (workloads, scipy distributions) when imported:
    # `autotune --help` and `--version` must not pay for it.
    if name in ("SpecError", "SpecFile", "load_spec"):
        from . import _specs

        return getattr(_specs, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for `yes | head -1`

# Loggers of this project: -v shows their INFO, -vv their DEBUG. Everything else (jax, numba,
# matplotlib, optuna, sqlalchemy, urllib3, ...) stays at WARNING below -vvv.
_OWN_LOGGERS = ("autotune", "kernels")


def version() -> str:
    """The installed package's version (``0+unknown`` when run from a source tree that is not installed)."""
    try:
        return importlib.metadata.version("autotune")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--storage", metavar="URL",
                        help="results database: a SQLAlchemy URL or a .db path (default: $AUTOTUNE_STORAGE, "
                             "else ./results.db)")
    common.add_argument("--adopt-database", action="store_true",
                        help="use a SQLite file that holds other tables: add autotune's tables to it "
                             "(refused without this flag)")
    common.add_argument("-v", "--verbose", action="count", default=0,
                        help="log more: -v autotune's progress, -vv its debug lines, -vvv every library's")
    data = argparse.ArgumentParser(add_help=False)
    data.add_argument("--json", action="store_true", help="print JSON instead of a table")

    parser = argparse.ArgumentParser(
        prog="autotune", description="Adaptive auto-tuning for Monte Carlo risk and pricing kernels.",
        epilog="SPEC is a workload spec file (.toml, .yaml) or a built-in suite: "
               "run `autotune suites` to list them. Exit status: 0 done, 1 failed while working, 2 bad input.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("profile", parents=[common, data], help="profile this machine (micro-benchmarks)")
    p.add_argument("--quick", action="store_true",
                   help="smaller, faster micro-benchmarks (5-10 s on 2 cores, mostly numba and JAX start-up)")
    p.add_argument("--max-workers", type=_positive_int, help="cap the threads used by the scaling benchmarks")
    p.add_argument("--suite", nargs="?", const="standard", metavar="SUITE",
                   help="also tune a suite (default: standard) on this machine within --budget-seconds")
    p.add_argument("--budget-seconds", type=_positive_float, default=600.0,
                   help="time budget of --suite (default 600)")

    p = sub.add_parser("tune", parents=[common, data], help="run (or resume) offline tuning sessions")
    p.add_argument("spec", metavar="SPEC")
    p.add_argument("--budget-trials", type=_positive_int, help="trials per workload")
    p.add_argument("--budget-seconds", type=_positive_float, help="seconds per workload")
    p.add_argument("--total-seconds", type=_positive_float, help="stop starting new workloads after this")
    p.add_argument("--sampler", choices=("auto", "brute", "tpe", "random"), help="search strategy")
    p.add_argument("--seed", type=int, help="seed of the sampler")
    p.add_argument("--only", metavar="NAME", action="append", help="tune only these workloads (repeatable)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--timeout", type=_positive_float, metavar="S",
                   help="per-config limit: a config still running after S seconds is recorded as timed out "
                        "(default 300)")
    p.add_argument("--in-process", action="store_true",
                   help="measure in this process (faster; a config that hangs or crashes then ends the command)")

    p = sub.add_parser("train", parents=[common, data], help="fit the configuration model on the database")
    p.add_argument("--name", default="default", help="model name (default: default)")
    p.add_argument("--n-estimators", type=_positive_int, default=100, help="trees per forest (default 100)")
    p.add_argument("--evaluate", action="store_true", help="also print the cross-validated quality table")

    p = sub.add_parser("evaluate", parents=[common, data], help="cross-validated model quality vs baselines")
    p.add_argument("--group-by", choices=("workload", "machine", "both"), default="workload",
                   help="what is held out (default: workload)")
    p.add_argument("--folds", type=_positive_int, default=5, help="folds per grouping (default 5)")
    p.add_argument("--holdout", metavar="SPEC", help="instead of CV: score the choice for these workloads")
    p.add_argument("--n-estimators", type=_positive_int, default=100)

    for name, text in (("predict", "show the config tuned_simulate would use, without running"),
                       ("run", "run tuned_simulate and print estimates, standard errors and the decision")):
        p = sub.add_parser(name, parents=[common, data], help=text)
        p.add_argument("spec", metavar="SPEC")
        p.add_argument("--policy", choices=("auto", "exploit", "cache", "model", "default"),
                       default="exploit" if name == "predict" else "auto")
        p.add_argument("--calls", type=_positive_int, help="expected calls (amortises compile time)")
        p.add_argument("--only", metavar="NAME", action="append", help="only these workloads (repeatable)")
        if name == "run":
            p.add_argument("--seed", type=int, help="seed of the simulation (default: the spec's, else random)")
            p.add_argument("--no-record", action="store_true", help="do not record the timing")

    p = sub.add_parser("runs", parents=[common, data], help="list or export measurements",
                       epilog="-o FILE: the format follows the extension: .csv, .json, .json.gz or .txt (the table)")
    _filters(p)
    p.add_argument("--since", metavar="ISO-DATE", help="only measurements from this UTC date/time on")
    p.add_argument("--limit", type=_positive_int, help="the newest N only")
    p.add_argument("--format", choices=("table", "csv", "json"), help="output format (default: table, "
                                                                       "or json with --json)")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="write to FILE (.csv, .json, .json.gz, .txt) instead of the terminal")

    p = sub.add_parser("export", parents=[common, data], help="export results to a JSON file (.json or .json.gz)")
    p.epilog = "FILE must end in .json or .json.gz (gzip-compressed)"
    p.add_argument("file", metavar="FILE")
    _filters(p)

    p = sub.add_parser("import", parents=[common, data],
                       help="import results from an export file or another database URL (no duplicates)")
    p.add_argument("source", metavar="FILE|URL")

    p = sub.add_parser("instances", parents=[common, data],
                       help="compare the machines in the database on the same workloads",
                       epilog="Each figure is a median with a confidence interval; overlapping intervals are a tie.")
    p.add_argument("--prices", metavar="CSV", help="price table: instance_type,usd_per_hour (adds costs and "
                                                   "\"cheapest\")")
    p.add_argument("--weights", metavar="FILE",
                   help="workload mix for the summary: a .toml or .json file mapping workload name (or key) to "
                        "weight (default: equal weights)")
    p.add_argument("--remeasure", action="store_true",
                   help="first re-measure this machine's 3 best configs of each shared workload side by side "
                        "(5 rounds; stored as benchmark rows), and use those samples")
    p.add_argument("--csv", action="store_true", help="print CSV")

    p = sub.add_parser("report", parents=[common, data], help="write the HTML report with figures")
    p.add_argument("--out", default="autotune-report", help="output folder (default: autotune-report)")
    p.add_argument("--prices", metavar="CSV", help="price table for the instance comparison")

    p = sub.add_parser("demo", parents=[common, data],
                       help="the main job: tune a small suite, train, run unseen workloads, report")
    p.add_argument("--out", default="autotune-report", help="report folder (default: autotune-report)")
    p.add_argument("--budget-trials", type=_positive_int, help="trials per workload (default: the suite's)")

    p = sub.add_parser("pin", parents=[common, data],
                       help="write a lock file: the reproducible config of each workload on this machine",
                       epilog="Each workload gets the config tuned_simulate(..., reproducible=True) would choose "
                              "(cache, else model, else the reference): results bit-identical to the reference's "
                              "for the same seed. Load it with kernels.load_lock(FILE).")
    p.add_argument("spec", metavar="SPEC")
    p.add_argument("-o", "--output", metavar="FILE", required=True, help="the lock file to write (.toml)")
    p.add_argument("--reference", metavar="KNOB=VALUE,...",
                   help="the pinned reference config (default: Config()), e.g. backend=numba,chunk_size=65536; "
                        "its backend, precision, chunk size and estimator are kept")
    p.add_argument("--tune", action="store_true",
                   help="first tune (reproducible mode) each workload with no tuned in-class config stored")
    p.add_argument("--budget-trials", type=_positive_int, help="with --tune: trials per workload")
    p.add_argument("--budget-seconds", type=_positive_float, help="with --tune: seconds per workload")
    p.add_argument("--only", metavar="NAME", action="append", help="only these workloads (repeatable)")

    sub.add_parser("suites", parents=[common, data], help="list the built-in workload suites")
    return parser


def _filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--machine", metavar="ID", help="one machine id")
    p.add_argument("--workload", metavar="KEY|NAME",
                   help="one workload: its key, or a display name (a spec file's workload name)")
    p.add_argument("--kind", choices=("european", "asian", "portfolio"), help="one workload kind")
    p.add_argument("--source", choices=("tune", "online", "profile", "benchmark"), help="one source")
    p.add_argument("--outcome", "--status", dest="status", help="one outcome (complete, failed, rejected, timed_out)")


def _database_failure(exc: Exception, storage: str | None) -> str | None:
    """One line for a database error that escaped the storage layer's conversion, else ``None``."""
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError

    from ..storage import resolve_url

    optuna_exceptions = sys.modules.get("optuna.exceptions")
    cause: BaseException | None = exc
    if optuna_exceptions is not None and isinstance(exc, optuna_exceptions.StorageInternalError):
        cause = exc.__cause__ or exc.__context__
    elif not isinstance(exc, SQLAlchemyError):
        return None
    if isinstance(cause, DBAPIError) and cause.orig is not None:
        cause = cause.orig
    try:
        where = f"results database {resolve_url(storage).render_as_string(hide_password=True)}"
    except AutotuneError:
        where = "results database"
    return f"{where}: {type(cause).__name__}: {cause}" if cause is not None else f"{where}: {exc}"


def configure_logging(verbose: int) -> None:
    """Log to stderr: WARNING; ``-v`` autotune's INFO, ``-vv`` its DEBUG, ``-vvv`` every library's DEBUG."""
    own = logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(logging.DEBUG if verbose >= 3 else logging.WARNING)
    for name in _OWN_LOGGERS:
        logging.getLogger(name).setLevel(own)
    _quiet_optuna(verbose)


def _quiet_optuna(verbose: int) -> None:
    # Optuna logs through its own handler at INFO, whatever the root logger says.
    optuna_logging = sys.modules.get("optuna.logging")
    if optuna_logging is not None:
        optuna_logging.set_verbosity(logging.DEBUG if verbose >= 3 else logging.WARNING)


def _error(command: str, message: object) -> None:
    print(f"autotune {command}: error: {for_cli(str(message))}", file=sys.stderr)


def _broken_pipe() -> int:
    """The reader of stdout went away: stop quietly (no traceback, nothing more to write)."""
    try:  # Python flushes stdout at exit; that must not fail again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return EXIT_BROKEN_PIPE


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``) and return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    log = logging.getLogger("autotune.cli")
    from ._specs import SpecError

    try:
        from . import _commands  # the heavy imports (numba, jax, sklearn) only once the arguments are good

        _quiet_optuna(args.verbose)
        status = int(getattr(_commands, f"cmd_{args.command}")(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return status
    except BrokenPipeError:
        return _broken_pipe()
    except KeyboardInterrupt:
        print(f"autotune {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (UsageError, SpecError) as exc:
        _error(args.command, exc)
        return EXIT_USAGE
    except AutotuneError as exc:
        log.debug("failed", exc_info=True)
        _error(args.command, exc)
        return EXIT_FAILURE
    except (ValueError, FileNotFoundError) as exc:
        log.debug("bad input", exc_info=True)
        _error(args.command, exc)
        return EXIT_USAGE
    except Exception as exc:
        message = _database_failure(exc, args.storage)
        if message is None:
            if not isinstance(exc, OSError | RuntimeError):
                raise  # a bug: the traceback is what a report needs
            message = f"{type(exc).__name__}: {exc}" if isinstance(exc, RuntimeError) else str(exc)
        log.debug("failed", exc_info=True)
        _error(args.command, message)
        return EXIT_FAILURE
