"""What every workflow script does around its work: log to the rule's log file, and turn
bad input into one clear line instead of a traceback."""

from __future__ import annotations

import contextlib
import os
import sys
import traceback

from .errors import InputError


def run_step(smk, main) -> None:
    """Run `main(smk)` with stdout and stderr going to the rule's log.

    An InputError is printed as one line, both in the log and on the terminal where
    Snakemake runs, and the job fails (Snakemake then removes its declared outputs).
    """
    terminal = sys.__stderr__
    log_path = smk.log[0] if len(smk.log) else None
    with contextlib.ExitStack() as stack:
        if log_path:
            os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
            log = stack.enter_context(open(log_path, "a", buffering=1, encoding="utf-8"))
            stack.enter_context(contextlib.redirect_stderr(log))
            stack.enter_context(contextlib.redirect_stdout(log))
        torch = sys.modules.get("torch")
        if torch is not None and smk.threads:
            # As many torch threads as Snakemake gave the job: torch's default (one per
            # core in every job) makes parallel jobs on a small machine wait for each other.
            torch.set_num_threads(max(1, int(smk.threads)))
        try:
            main(smk)
        except InputError as err:
            message = f"error in rule {smk.rule}: {err}"
            print(message, file=sys.stderr, flush=True)
            if log_path:
                print(message, file=terminal, flush=True)
            sys.exit(1)
        except Exception:
            traceback.print_exc()
            if log_path:
                print(f"rule {smk.rule} failed; see {log_path}", file=terminal, flush=True)
            raise
