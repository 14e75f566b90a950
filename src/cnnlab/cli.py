"""The `cnnlab` command: subcommands dispatch to their handlers; user errors print one line."""

from __future__ import annotations

import importlib
import os
import re
import signal
import sys
from collections.abc import Callable

# MLflow's telemetry thread, failing to reach its server offline, deleted environment variables while runs read
# them, and a cnnlab process has no business phoning home: off unless the user sets MLFLOW_DISABLE_TELEMETRY=false.
# Set before anything imports mlflow, which reads it once.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from cnnlab.console import quiet_third_party
from cnnlab.errors import CnnlabError, as_user_error, user_message
from cnnlab.signals import Terminated, cancel_held_signals, install_stop_handlers
from cnnlab.tracking.provenance import COMMAND_ENV

STOPPED = "a run that had started is marked KILLED (continue it with resume=RUN_ID)"
# Commands whose own rerun continues what was stopped
STOPPED_BY_COMMAND = {"repeat": "finished seeds are kept; the same command again continues the repeat"}
USAGE = """usage: cnnlab [--debug] COMMAND [ARGS...]

commands:
  train [OVERRIDES...]   train and test one config (Hydra: -m for sweeps, --cfg job to print, --help for options)
  compare [OPTIONS]      runs of an experiment or sweep ranked by a metric, only differing params (--help)
  reproduce RUN_ID       re-run a past run into a new one and compare every metric
  repeat RUN_ID|K=V...   one config under N seeds: each metric's mean, std and 95 % confidence interval
  evaluate RUN_ID [K=V]  test metrics of a run's best checkpoint (optionally on other data), in a new run
  predict RUN_ID INPUT…  predictions of a run's best checkpoint as JSON lines
  explain RUN_ID INPUT…  what the model looked at: class-activation maps, feature maps (text: winning n-grams)
  export RUN_ID          the best checkpoint as ONNX / TorchScript / pt2 files, checked on the test split
  upload RUN_DIR         send what a run kept while its tracking server was unreachable
  server [K=V...]        the shared MLflow tracking server of tracking=mlflow_postgres (PostgreSQL backend)

--debug shows full tracebacks (as does HYDRA_FULL_ERROR=1)."""


def main(argv: list[str] | None = None) -> int:
    from cnnlab import distributed

    if distributed.started_as_rank():  # a DDP rank of a running job: its config, not this command line
        return run_as_rank()
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    if debug:
        os.environ["HYDRA_FULL_ERROR"] = "1"
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    if argv[0] in ("-sc", "--shell-completion"):  # the completion script Hydra installs calls `cnnlab -sc query=...`
        return shell_completion(argv)
    command, args = argv[0], argv[1:]
    handler = COMMANDS.get(command)
    if handler is None:
        print(f"cnnlab: error: unknown command '{command}'; valid commands: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    install_stop_handlers()
    quiet_third_party()
    try:
        try:
            return handler(args)
        finally:
            cancel_held_signals()  # the command has ended: a signal held for a write has nothing left to stop
    except Terminated:  # SIGTERM, also as Lightning stops on it (cnnlab.tracking.run says so)
        print(f"cnnlab: stopped by SIGTERM; {STOPPED_BY_COMMAND.get(command, STOPPED)}", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print(f"cnnlab: interrupted; {STOPPED_BY_COMMAND.get(command, STOPPED)}", file=sys.stderr)
        return 130
    except (CnnlabError, OSError) as err:
        error = as_user_error(err)
        if error is None or debug or os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"cnnlab: error: {user_message(error)}", file=sys.stderr)
        return 1


def shell_completion(argv: list[str]) -> int:
    """Hydra's completion for `cnnlab train` (install it with `eval "$(cnnlab train -sc install=bash)"`). The
    script it installs asks `cnnlab -sc query=bash` with the whole line: the `train` word is not an override."""
    line = os.environ.get("COMP_LINE")
    if line is not None:
        os.environ["COMP_LINE"] = re.sub(r"^(\s*\S+)\s+train(\s|$)", r"\1\2", line)
    return train_command(argv)


def run_as_rank() -> int:
    """Trains the job's shared config as this rank (rank 0 logs and checkpoints)."""
    from cnnlab.distributed import shared_config
    from cnnlab.train import train_config

    train_config(shared_config())
    return 0


def train_command(args: list[str]) -> int:
    from cnnlab.config import check_overrides, hydra_train_app

    # `--force` reads as a flag; Hydra takes settings only
    args = ["force=true" if arg == "--force" else arg for arg in args]
    check_overrides(args)
    if "-m" in args or "--multirun" in args:
        check_sweep_store(args)
    # Hydra reads sys.argv. argv[0] stays the real executable: Lightning re-runs it to start DDP ranks.
    os.environ[COMMAND_ENV] = "cnnlab train"
    from cnnlab.tracking import sweep  # the module, not the package's names

    sweep.last_sweep_failures = 0  # this command's sweep, not an earlier one in the same process
    sys.argv = [sys.argv[0], *args]
    hydra_train_app()
    return 1 if sweep.last_sweep_failures else 0


def check_sweep_store(args: list[str]) -> None:
    """A sweep creates its parent run before any job: a tracking server that cannot be reached is one line now,
    not minutes of MLflow's retries (a single run would train offline instead)."""
    from cnnlab.config import composed_tracking_uri
    from cnnlab.tracking.store import is_remote, resolve_tracking_uri, server_problem, uri_source

    uri = resolve_tracking_uri(composed_tracking_uri(args))
    if is_remote(uri) and (problem := server_problem(uri)):
        raise CnnlabError(
            f"cannot reach the tracking server {uri} ({problem}); a sweep needs it to create its parent run: start "
            f"it, or set {uri_source()} to a local store such as sqlite:///outputs/mlflow/mlflow.db"
        )


def subcommand(module: str) -> Callable[[list[str]], int]:
    """The main() of cnnlab.commands.<module>, imported only when that command runs (start-up stays quick)."""

    def run(args: list[str]) -> int:
        return importlib.import_module(f"cnnlab.commands.{module}").main(args)

    return run


COMMANDS: dict[str, Callable[[list[str]], int]] = {
    "train": train_command,
    **{name: subcommand(name) for name in ("compare", "reproduce", "repeat", "evaluate", "predict", "export",
                                           "upload", "server", "explain")},
}

if __name__ == "__main__":
    sys.exit(main())
