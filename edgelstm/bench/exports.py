"""Exports and QEMU runs of spec models, shared by the benchmarks (side by side with CMSIS-NN,
kernel cost fits).

``export_spec("lstm:20@29/12")`` is ``edgelstm export lstm:20@29/12 --synthetic-calib --quant int8``
through the Python API (one process, no TensorFlow start-up per model). The C an export holds does
not depend on ``--target`` (only ``--build`` sizes do; the kernels choose their DSP/MVE/plain paths
from the compiler's feature macros), so one export serves every core.

Exports take a minute each (the TFLite converter), so they are kept in build/bench-exports/, keyed
by the spec and a fingerprint of everything that shapes them: edgelstm's Python (the converter and
the C generator), firmware_export/runtime/ (copied into each export) and the versions of TensorFlow,
tf_keras and LiteRT. Any change there exports again, so ``make bench`` always measures the runtime
and generator of the moment.
"""
from __future__ import annotations

import argparse
import hashlib
import shutil
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from ..export.toolchain import REPO

CACHE = REPO / "build" / "bench-exports"
_SKIP = ("bench", "run")  # edgelstm packages that do not shape an export
_runs: dict[tuple[str, str], dict[str, Any]] = {}


@lru_cache(maxsize=1)
def fingerprint() -> str:
    h = hashlib.sha256()
    pkg = REPO / "edgelstm"
    files = [p for p in sorted(pkg.rglob("*.py")) if p.relative_to(pkg).parts[0] not in _SKIP]
    files += sorted(p for p in (REPO / "firmware_export" / "runtime").rglob("*") if p.is_file())
    for p in files:
        h.update(str(p.relative_to(REPO)).encode())
        h.update(p.read_bytes())
    for dist in ("tensorflow", "tf_keras", "ai-edge-litert"):
        try:
            h.update(f"{dist}={metadata.version(dist)}".encode())
        except metadata.PackageNotFoundError:
            h.update(f"{dist}=none".encode())
    return h.hexdigest()[:16]


def _slug(spec: str) -> str:
    return spec.replace(":", "_").replace("@", "_T").replace("/", "_I").replace(",", "-")


def export_spec(spec: str, say=print) -> Path:
    """The int8 export folder of a spec model with synthetic calibration (cached, see above)."""
    from ..convert.command import resolve_model_and_calib
    from ..export.api import export

    d = CACHE / f"{_slug(spec)}-{fingerprint()}"
    if (d / "export.json").is_file():
        return d
    for old in CACHE.glob(f"{_slug(spec)}-*"):  # exports of an older runtime or generator
        shutil.rmtree(old, ignore_errors=True)
    say(f"exporting {spec} (int8, synthetic calibration)")
    args = argparse.Namespace(demo=None, model=spec, seq_len=None, calib=None, synthetic_calib=True)
    model, calib = resolve_model_and_calib(args)
    d.parent.mkdir(parents=True, exist_ok=True)
    export(model, d, quant="int8", variant="sequence", target="cortex-m4", name="hx", calib=calib, check=False,
           command=f"edgelstm export {spec} --synthetic-calib --quant int8 --target cortex-m4")
    return d


def run_spec(spec: str, core: str, vectors: int = 3, say=print) -> dict[str, Any]:
    """``edgelstm run`` of the spec's export on a core (outputs compared with TFLite Micro), memoised.
    A failure (export refused, build error of a runtime mid-rewrite, QEMU error) gives {"error": one line},
    so one bad point does not stop the benchmark."""
    from ..errors import EdgeLSTMError
    from ..run.api import run_on_target

    key = (spec, core)
    if key not in _runs:
        try:
            d = export_spec(spec, say)
            _runs[key] = run_on_target(d, core, n_vectors=vectors, timeout_s=600)
        except EdgeLSTMError as exc:
            lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
            why = next((ln for ln in lines if "error:" in ln), lines[0] if lines else type(exc).__name__)
            _runs[key] = {"error": f"{spec} on {core}: {why[:300]}"}
            say(f"  {_runs[key]['error']}")
    return _runs[key]
