"""Check an export against TFLite Micro: build the check program (harness.py) on the host,
feed it test vectors, run the same vectors through TFLite Micro's interpreter on the exported
.tflite, and compare every output element (bit for bit for int8)."""
from __future__ import annotations

import json
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import TargetError
from .harness import MODE_RUN, MODE_STEP, Layout, decode, encode, harness_for
from .toolchain import BOARDS, WARNINGS, need, run_compiler


def layout(info: dict) -> Layout:
    a = info["api"]
    return Layout(a["seq_len"], a["input_size"], a["output_size"], a["output_steps"], a["dtype"])


def quantize_input(info: dict, x: np.ndarray) -> np.ndarray:
    """Float inputs in the export's input type (int8: with its input scale and zero point)."""
    from ..convert.runners import TensorInfo, quantize

    a = info["api"]
    return quantize(np.asarray(x, np.float32), TensorInfo("input", (), a["dtype"], a["input_scale"],
                                                           a["input_zero_point"]))


def expected_run(export_dir: Path, info: dict, xs: np.ndarray) -> np.ndarray:
    """What TFLite Micro computes for <p>_run on xs with the exported .tflite: (n, steps, out)."""
    stateful = info["variant"] == "stateful"
    want = reference((export_dir / info["files"]["tflite"]).read_bytes(), xs, MODE_RUN, streaming_graph=stateful,
                     mask=mask_input(info))
    if stateful and not info["api"]["output_is_sequence"]:
        want = want[:, -1:]  # the stateful graph yields one output per step; the run keeps the last
    return want


def expected_step(export_dir: Path, info: dict, xs: np.ndarray) -> np.ndarray:
    """What TFLite Micro computes for <p>_step, step by step from reset: (n, T, out)."""
    step = (export_dir / info["files"]["step_tflite"]).read_bytes()
    window = info["api"].get("window")
    if window:
        return reference_window(step, xs, window["rows"], window["stride"])
    return reference(step, xs, MODE_STEP, streaming_graph=True, mask=mask_input(info))


def reference_window(tflite: bytes, xs: np.ndarray, rows: int, stride: int) -> np.ndarray:
    """TFLite Micro on a window graph (export.stream), step by step from reset: the last ``rows`` inputs in
    a ring (reset: the input zero point), one invoke when an input completes a window (the ``rows``-th,
    then every ``stride``-th); the other steps repeat the last output (before any: the output zero point)."""
    from ..convert.runners import TFLMEngine

    eng = TFLMEngine(tflite)
    inp, out = eng.inputs[0], eng.outputs[0]
    ys = []
    for x in xs:
        eng.reset()
        ring = np.full((rows, x.shape[-1]), inp.zero_point, inp.dtype)
        last = np.full(int(np.prod(out.shape)), out.zero_point, out.dtype)
        countdown, steps = rows, []
        for t in range(x.shape[0]):
            ring = np.concatenate([ring[1:], x[t:t + 1].astype(inp.dtype)])
            countdown -= 1
            if countdown == 0:
                countdown = stride
                last = np.asarray(eng.run([ring.reshape(inp.shape)])[0]).reshape(-1)
            steps.append(last)
        ys.append(np.stack(steps))
    return np.stack(ys)


def mask_input(info: dict) -> float | None:
    """The mask value as the export's input holds it (api.mask.input_value; None without Masking)."""
    m = info["api"].get("mask")
    return None if not m else m["input_value"]


def make_vectors(info: dict, validation_x: np.ndarray | None, n_random: int = 8, seed: int = 0) -> np.ndarray:
    """Validation data (quantized with the input scale), random inputs, (Masking) padded and all-masked
    inputs, and the two extremes."""
    lay = layout(info)
    rng = np.random.default_rng(seed)
    shape = (lay.seq_len, lay.input_size)
    parts = []
    if lay.dtype == "int8":
        if validation_x is not None and len(validation_x):
            parts.append(quantize_input(info, validation_x))
        parts.append(rng.integers(-128, 128, size=(n_random, *shape)).astype(np.int8))
        parts.append(np.stack([np.full(shape, -128, np.int8), np.full(shape, 127, np.int8)]))
    else:
        if validation_x is not None and len(validation_x):
            parts.append(validation_x.astype(np.float32))
        parts.append(rng.normal(scale=2.0, size=(n_random, *shape)).astype(np.float32))
        parts.append(np.stack([np.full(shape, -4.0, np.float32), np.full(shape, 4.0, np.float32)]))
    mask = mask_input(info)
    if mask is not None:  # Masking: padded copies of random vectors (pre, post, a gap) and one all masked
        parts.insert(-1, _padded(np.resize(parts[-2], (PADDED_VECTORS - 1, *shape)), mask))
    return np.concatenate(parts)


#: Masking: the padded vectors make_vectors adds (pre, post, a gap, all masked), just before the extremes
PADDED_VECTORS = 4


def _padded(xs: np.ndarray, mask: float) -> np.ndarray:
    out = [x.copy() for x in xs]
    t = out[0].shape[0]
    out[0][: t // 2] = mask
    out[1][t // 2 + 1:] = mask
    out[2][t // 3: max(t // 3 + 1, 2 * t // 3)] = mask
    out.append(np.full_like(xs[0], mask))
    return np.stack(out)


def reference(tflite: bytes, xs: np.ndarray, mode: int, streaming_graph: bool,
              mask: float | None = None) -> np.ndarray:
    """Raw outputs of TFLite Micro: (n, steps, out). mode RUN on a sequence graph: one invoke per
    sequence; STEP on a step graph: one invoke per timestep, state fed back / kept by the op.
    ``mask`` (Masking, in the input's own type): a step whose every feature equals it is not invoked;
    its output is the last one (before any step: the reset output, 0.0 = the output zero point)."""
    from ..convert.runners import TFLMEngine

    eng = TFLMEngine(tflite)
    inp = eng.inputs[0]
    ys = []
    for x in xs:
        eng.reset()
        if not streaming_graph:
            ys.append(np.asarray(eng.run([x.reshape(inp.shape)])[0]).reshape(1, -1))
            continue
        states = [np.full(i.shape, i.zero_point, i.dtype) for i in eng.inputs[1:]]
        steps = []
        out = eng.outputs[0]
        last = np.full(int(np.prod(out.shape)), out.zero_point, out.dtype)
        for t in range(x.shape[0]):
            if mask is not None and np.all(x[t] == mask):
                steps.append(last)
                continue
            res = eng.run([x[t].reshape(inp.shape)] + states)
            states = [np.asarray(r) for r in res[1:]]
            last = np.asarray(res[0]).reshape(-1)
            steps.append(last)
        ys.append(np.stack(steps))
    return np.stack(ys)


@dataclass
class CheckResult:
    mode: str
    vectors: int
    elements: int
    mismatches: int
    max_abs_diff: float
    max_rel_diff: float

    def as_dict(self) -> dict:
        return dict(vars(self))


def build_host(export_dir: Path, info: dict, out: Path) -> Path:
    p = info["name"]
    main = out / "check_main.c"
    main.write_text(harness_for(info))
    srcs = [export_dir / f"{p}_model.c", main, BOARDS / "host" / "board_host.c"]
    srcs += [export_dir / s for s in info["files"]["runtime"]]
    exe = out / "check"
    run_compiler([need("gcc"), *WARNINGS, "-O2", f"-I{export_dir}", f"-I{export_dir / 'runtime' / 'include'}",
                  f"-I{BOARDS / 'host'}", *map(str, srcs), "-lm", "-o", str(exe)], "host build of the export")
    return exe


def run_check_program(cmd: list[str], info: dict, xs: np.ndarray, mode: int, timeout_s: float = 120) -> np.ndarray:
    lay = layout(info)
    try:
        r = subprocess.run(cmd, input=encode(lay, xs, mode), capture_output=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as e:
        raise TargetError(f"the check program did not finish within {timeout_s:.0f} s") from e
    if r.returncode != 0:
        raise TargetError(f"the check program exited with {r.returncode}: {r.stderr.decode(errors='replace')[:300]}")
    return decode(lay, r.stdout, len(xs), mode)[0]


def compare(got: np.ndarray, want: np.ndarray, mode: str) -> CheckResult:
    want = want.reshape(got.shape)
    diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
    exact = got.dtype.kind == "i"
    rel = diff / np.maximum(np.abs(want.astype(np.float64)), 1e-6)
    bad = diff > 0 if exact else (diff > 1e-5 * np.maximum(np.abs(want), 1.0))
    return CheckResult(mode, int(got.shape[0]), int(got.size), int(bad.sum()), float(diff.max(initial=0)),
                       float(rel.max(initial=0)))


def check_host(export_dir: Path, xs: np.ndarray | None = None, validation_x: np.ndarray | None = None) -> list[CheckResult]:
    """Compile the export with gcc and compare it with TFLite Micro: <p>_run (and <p>_step)."""
    export_dir = Path(export_dir)
    info = json.loads((export_dir / "export.json").read_text())
    if xs is None:
        xs = make_vectors(info, validation_x)
    results = []
    with tempfile.TemporaryDirectory(prefix="edgelstm-check-") as tmp:
        exe = build_host(export_dir, info, Path(tmp))
        got = run_check_program([str(exe)], info, xs, MODE_RUN)
        results.append(compare(got, expected_run(export_dir, info, xs), "run"))
        if info["api"]["streaming"]:
            got = run_check_program([str(exe)], info, xs, MODE_STEP)
            results.append(compare(got, expected_step(export_dir, info, xs), "step"))
    return results
