"""Experiment trackers (`train.report_to`) through accelerate, none of them able to fail a run.

accelerate's `Accelerator(log_with=..., project_dir=...)` knows the trackers (TensorBoard,
MLflow, W&B, Trackio, Comet, Aim, ClearML, DVCLive, SwanLab) and starts them in the main
process only, so a run on several processes logs once. What this module adds:

- `Trackers`, the training loop's callback (train.TrainCallback): one run per fine-tune,
  named by the job (<model>/<setting>/seed<seed>/<method>: grid.FineTune.name), in
  project `bibleft`, with the job's resolved settings (flattened: see `flat_config`) as its
  configuration, and every step's loss, learning rate and epoch plus each log flush's
  tokens/s and peak memory;
- file-based trackers write under `train.tracking_dir` (`tracker_args`, docs/tools.md);
- a tracker whose package is not installed, that accelerate does not know, or that fails
  to start, log or close (a server out of reach, a missing login) costs one line in the
  job's log (stderr) and nothing else: training goes on without it. accelerate would drop
  a missing package silently (or, for a name it does not know, raise), and its
  `init_trackers`, `log` and `end_training` stop at the first tracker that raises, so
  each tracker is started, fed and closed here on its own. `end_training` also destroys
  the process group, which is not the training loop's to destroy (benchmarks call
  `train()` several times in one process); the trackers are closed with `finish()`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from .train import TrainCallback, Window

PROJECT = "bibleft"  # the project (W&B, Trackio, Comet, SwanLab, ClearML) or experiment (MLflow, Aim)


def _unavailable(name: str) -> str | None:
    """Why accelerate cannot start tracker `name` here, or None if it can."""
    from accelerate.tracking import get_available_trackers
    from accelerate.utils import LoggerType

    if name not in LoggerType.list() or name == "all":
        return f"accelerate {_version('accelerate')} does not support it"
    if name not in {str(t) for t in get_available_trackers()}:
        return "its package is not installed (see requirements-trackers.txt)"
    return None


def _version(package: str) -> str:
    import importlib.metadata as md

    try:
        return md.version(package)
    except md.PackageNotFoundError:
        return "?"


def flat_config(config: dict, prefix: str = "") -> dict:
    """`config` as one level of keys ("train.learning_rate") holding what every tracker
    takes as a parameter (bool, int, float, str): None and lists become JSON text
    ("null", '["tensorboard"]')."""
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(flat_config(value, f"{prefix}{key}."))
        elif isinstance(value, (bool, int, float, str)):
            flat[f"{prefix}{key}"] = value
        else:
            flat[f"{prefix}{key}"] = json.dumps(value, default=str)
    return flat


def tracker_args(name: str, run_name: str, directory: Path) -> tuple[str, dict]:
    """(project_name for `init_trackers`, the tracker's init_kwargs) for one tracker.

    Where the file-based ones write, `directory` being train.tracking_dir:
    tensorboard  <dir>/tensorboard/<run name>/   (`tensorboard --logdir <dir>/tensorboard`)
    aim          <dir>/.aim                      (accelerate passes the directory as Aim's repo)
    dvclive      <dir>/dvclive/<run name>/
    wandb        <dir>/wandb/                    (its local files and offline runs)
    swanlab      <dir>/swanlab/
    mlflow       <dir>/mlflow/mlflow.db and artifacts/, unless MLFLOW_TRACKING_URI is set
    Trackio, Comet and ClearML keep their own places (their environment variables apply).
    """
    if name == "tensorboard":
        return f"tensorboard/{run_name}", {}
    if name == "aim":
        return run_name, {"experiment": PROJECT}
    if name == "dvclive":
        return run_name, {"dir": str(directory / "dvclive" / run_name)}
    if name == "wandb":
        return PROJECT, {"name": run_name, "dir": str(directory)}
    if name == "swanlab":
        return PROJECT, {"experiment_name": run_name, "logdir": str(directory / "swanlab")}
    if name == "mlflow":
        if os.environ.get("MLFLOW_TRACKING_URI"):  # a server: it keeps the artifacts
            return PROJECT, {"run_name": run_name}
        return PROJECT, {"run_name": run_name,
                         "logging_dir": str((directory / "mlflow" / "artifacts").resolve())}
    if name == "trackio":
        return PROJECT, {"name": run_name}
    if name == "clearml":
        return PROJECT, {"task_name": run_name}
    return PROJECT, {}  # comet_ml: named after it starts (see _after_start)


def _before_start(name: str, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    if name == "mlflow" and not os.environ.get("MLFLOW_TRACKING_URI"):
        import mlflow

        store = (directory / "mlflow").resolve()
        store.mkdir(parents=True, exist_ok=True)
        mlflow.set_tracking_uri(f"sqlite:///{store / 'mlflow.db'}")


def _after_start(name: str, tracker, run_name: str) -> None:
    if name == "comet_ml":
        tracker.tracker.set_name(run_name)


def _reason(err: BaseException) -> str:
    """An exception as one short line."""
    text = " ".join(str(err).split()) or "no message"
    text = text if len(text) <= 200 else text[:197] + "..."
    return f"{type(err).__name__}: {text}"


class Trackers(TrainCallback):
    """The trackers of `report_to` for one run named `run_name`, writing under `directory`
    (train.tracking_dir), with `config` as the run's configuration; as train()'s callback.
    Started in the main process only; none elsewhere."""

    def __init__(self, report_to: list[str], directory: str | Path, run_name: str, config: dict):
        self.requested = list(dict.fromkeys(report_to))
        self.directory, self.run_name, self.config = Path(directory), run_name, config
        self.accelerator = None
        self.active: list = []  # accelerate's tracker objects, in accelerator.trackers too

    @property
    def names(self) -> list[str]:
        return [tracker.name for tracker in self.active]

    @staticmethod
    def warn(name: str, what: str) -> None:
        print(f"warning: tracker {name}: {what}; training goes on without it", file=sys.stderr, flush=True)

    def accelerator_kwargs(self) -> dict:
        """`log_with` and `project_dir` for the Accelerator: the requested trackers that
        accelerate can start here. Nothing when there are none, so a run without trackers
        builds a plain Accelerator (no logging, no project folder)."""
        usable = [name for name in self.requested if _unavailable(name) is None]
        if not usable:
            return {}
        return {"log_with": usable, "project_dir": str(self.directory)}

    def on_start(self, accelerator) -> None:
        """Start every requested tracker that can start, one at a time through
        `accelerator.init_trackers`, each with the run's flattened configuration."""
        self.accelerator = accelerator
        if not accelerator.is_main_process:
            return
        for name in self.requested:
            why = _unavailable(name)
            if why is not None:
                self.warn(name, f"not used: {why}")
        directory, run_name, values = self.directory, self.run_name, flat_config(self.config)
        wanted = list(accelerator.log_with)
        for tracker_type in wanted:
            name = str(tracker_type)
            # init_trackers builds a tracker for each of log_with and starts each of
            # accelerator.trackers: alone in both, this one is the only one (re)started.
            accelerator.log_with, accelerator.trackers = [tracker_type], []
            try:
                project, init_kwargs = tracker_args(name, run_name, directory)
                _before_start(name, directory)
                accelerator.init_trackers(project, config=values, init_kwargs={name: init_kwargs})
                for tracker in accelerator.trackers:
                    _after_start(name, tracker, run_name)
            except Exception as err:  # noqa: BLE001 - no tracker may fail the run
                for tracker in accelerator.trackers:
                    self._finish_quietly(tracker)
                self.warn(name, f"not used: could not start ({_reason(err)})")
            else:
                self.active.extend(accelerator.trackers)
        accelerator.log_with = [t for t in wanted if str(t) in self.names]
        accelerator.trackers = list(self.active)

    def on_flush(self, records: list[dict], window: Window) -> None:
        """A log flush's per-step records (step, epoch, loss, learning_rate), each at its
        step, and the window's throughput and peak memory at its last step."""
        if not self.active:
            return
        for i, record in enumerate(records):
            values = {"train/loss": record["loss"], "train/learning_rate": record["learning_rate"],
                      "train/epoch": record["epoch"]}
            if i == len(records) - 1:
                values.update({"train/tokens_per_s": window.tokens_per_s,
                               "train/peak_memory_mb": window.peak_memory_mb})
            self.log(values, record["step"])

    def on_end(self) -> None:
        """Finish every tracker's run (after training, preemption or a failure)."""
        for tracker in list(self.active):
            self._drop(tracker)
            try:
                tracker.finish()
            except Exception as err:  # noqa: BLE001
                self.warn(tracker.name, f"could not close its run ({_reason(err)})")

    def log(self, values: dict, step: int) -> None:
        """`values` at `step` to each tracker; one that raises is dropped for the rest of
        the run (a server gone away would otherwise cost its timeout at every step)."""
        for tracker in list(self.active):
            try:
                tracker.log(values, step=step)
            except Exception as err:  # noqa: BLE001
                self._drop(tracker)
                self._finish_quietly(tracker)
                self.warn(tracker.name, f"dropped at step {step}: logging failed ({_reason(err)})")

    def _drop(self, tracker) -> None:
        self.active.remove(tracker)
        if tracker in self.accelerator.trackers:
            self.accelerator.trackers.remove(tracker)

    @staticmethod
    def _finish_quietly(tracker) -> None:
        try:
            tracker.finish()
        except Exception:  # noqa: BLE001 - it failed already; its warning is written
            pass
