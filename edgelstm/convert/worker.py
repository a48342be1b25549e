"""The converter child process: ``python -m edgelstm.convert.worker JOBDIR``.

JOBDIR/jobs.pkl holds (desc, calib_x, [(key, format, variant, quant, lstm_cell), ...]). For each job the worker
appends ``start <key>`` to JOBDIR/status, writes JOBDIR/<key>.bin, then appends ``done <key> <seconds>`` or
``fail <key> <kind> <message>``. A crash (segfault in the converter) leaves a started job without an
end line; the parent turns that into a ConverterCrash for that job and carries on in a new worker.
"""
from __future__ import annotations

import os
import pickle
import sys
import time
import traceback
from pathlib import Path


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    # Converter errors put the useful part after 'error:'
    for l in lines:
        if "error:" in l:
            return l[l.index("error:") + 6:].strip()[:300]
    return (lines[0] if lines else type(exc).__name__)[:300]


def main(jobdir: str) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    d = Path(jobdir)
    desc, calib_x, jobs = pickle.loads((d / "jobs.pkl").read_bytes())
    skip = set((d / "skip").read_text().split()) if (d / "skip").exists() else set()
    from ..errors import UnsupportedCombination
    from .onnx_export import convert_onnx
    from .tflite import convert_tflite

    status = open(d / "status", "a", buffering=1)
    crash_on = os.environ.get("EDGELSTM_CRASH_ON_JOB")  # fault injection for the crash-isolation test
    for key, fmt, variant, quant, lstm_cell in jobs:
        if key in skip:
            continue
        status.write(f"start {key}\n")
        status.flush()
        os.fsync(status.fileno())
        if key == crash_on:
            import signal

            os.kill(os.getpid(), signal.SIGSEGV)
        try:
            fn = convert_tflite if fmt == "tflite" else convert_onnx
            start = time.perf_counter()
            data = fn(desc, variant, quant, calib_x, lstm_cell=lstm_cell)
            (d / f"{key}.bin").write_bytes(data)
            status.write(f"done {key} {time.perf_counter() - start:.3f}\n")
        except UnsupportedCombination as exc:
            status.write(f"fail {key} unsupported {_one_line(exc)}\n")
        except Exception as exc:  # any converter error becomes a one-line message for the parent
            (d / f"{key}.trace").write_text(traceback.format_exc())
            status.write(f"fail {key} error {_one_line(exc)}\n")
        status.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
