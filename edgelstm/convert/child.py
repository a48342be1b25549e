"""Run converter jobs in child processes: a crash becomes a ConverterCrash naming the job, never a dead tool."""
from __future__ import annotations

import os
import pickle
import signal
import subprocess
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .. import procs
from ..errors import ConverterCrash, UnsupportedCombination
from ..ir import ModelDesc

#: Per job: what the converter may take at most (the unrolled T=100 int8 graph takes ~15 s).
JOB_TIMEOUT_S = 600


@dataclass(frozen=True)
class Job:
    key: str
    format: str
    variant: str
    quant: str
    lstm_cell: str = "int16"  # lowered int8 LSTM cell state (rules.LSTM_CELLS)

    def describe(self) -> str:
        return f"{self.format} {self.variant} {self.quant}"


def _signal_name(rc: int) -> str:
    try:
        return signal.Signals(-rc).name
    except ValueError:
        return f"signal {-rc}"


@dataclass(frozen=True)
class Converted:
    data: bytes
    seconds: float  # converter wall time of this job in the child


def run_jobs(desc: ModelDesc, calib_x: np.ndarray | None, jobs: list[Job],
             on_done: Callable[[Job], None] | None = None) -> dict[str, Converted]:
    """Convert every job; returns key -> artifact. Raises on the first job that cannot be converted."""
    results: dict[str, Converted] = {}
    # The worker dies with edgelstm (procs guard) and the janitor removes this folder even after a SIGKILL;
    # the worker's own temporary files go inside it (TMPDIR).
    with procs.temp_dir("edgelstm-convert-") as d:
        (d / "jobs.pkl").write_bytes(pickle.dumps(
            (desc, calib_x, [(j.key, j.format, j.variant, j.quant, j.lstm_cell) for j in jobs])))
        by_key = {j.key: j for j in jobs}
        while len(results) < len(jobs):
            (d / "skip").write_text("\n".join(results))
            env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONWARNINGS="ignore", TMPDIR=str(d))
            try:
                proc = procs.run(procs.guarded_command("edgelstm.convert.worker", [str(d)]), env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                 timeout=JOB_TIMEOUT_S * max(1, len(jobs) - len(results)))
            except subprocess.TimeoutExpired:
                raise ConverterCrash("the converter timed out; try a shorter --seq-len or fewer variants") from None
            started, ended = None, set()
            for line in (d / "status").read_text().splitlines() if (d / "status").exists() else []:
                word, key, *rest = line.split(" ", 3)
                if word == "start":
                    started = key
                    continue
                ended.add(key)
                job = by_key[key]
                if word == "fail":
                    kind, msg = rest[0], rest[1] if len(rest) > 1 else ""
                    if kind == "unsupported":
                        raise UnsupportedCombination(f"{job.describe()}: {msg}")
                    raise ConverterCrash(f"the converter failed on {job.describe()} ({msg}); see the model's "
                                         "layers and try another --variant or --quant")
                if key not in results:
                    results[key] = Converted((d / f"{key}.bin").read_bytes(), float(rest[0]) if rest else 0.0)
                    if on_done:
                        on_done(job)
            if started is not None and started not in ended:
                job = by_key[started]
                how = _signal_name(proc.returncode) if proc.returncode < 0 else f"exit code {proc.returncode}"
                hint = ""
                if job.quant in ("int8", "int16x8"):
                    hint = " (integer calibration of a WHILE-loop graph crashes the TF converter; use --variant unrolled)"
                raise ConverterCrash(f"the TFLite converter crashed with {how} on {job.describe()}{hint}")
            if proc.returncode != 0 and len(results) < len(jobs):
                tail = (proc.stderr or "").strip().splitlines()[-1:] or [""]
                raise ConverterCrash(f"the converter process failed ({tail[0][:200]}); rerun with fewer variants to narrow it down")
    return results
