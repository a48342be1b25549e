"""Run converted artifacts on data: LiteRT and TFLite Micro for .tflite, onnxruntime for .onnx.

Every runner returns float outputs of shape (N, out) or (N, T, out), dequantized
for integer models, with the variant's own calling convention:
  sequence / unrolled  one invoke per sequence (fused-LSTM state reset before each),
  stateful             one invoke per timestep; fused LSTM keeps state in variable
                       tensors, lowered graphs return their state, which is fed back.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    dtype: str
    scale: float
    zero_point: int

    def as_dict(self) -> dict:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype,
                "scale": self.scale, "zero_point": self.zero_point}


def quantize(x: np.ndarray, info: TensorInfo) -> np.ndarray:
    if info.dtype in ("float32", "float16"):
        return x.astype(info.dtype)
    lim = np.iinfo(info.dtype)
    q = np.round(x / info.scale) + info.zero_point
    return np.clip(q, lim.min, lim.max).astype(info.dtype)


def dequantize(q: np.ndarray, info: TensorInfo) -> np.ndarray:
    if info.dtype in ("float32", "float16"):
        return q.astype(np.float32)
    return ((q.astype(np.float32) - info.zero_point) * info.scale).astype(np.float32)


class Engine:
    """A minimal uniform interface over the three interpreters."""

    inputs: list[TensorInfo]
    outputs: list[TensorInfo]

    def reset(self) -> None: ...
    def run(self, feeds: list[np.ndarray]) -> list[np.ndarray]: ...


class LiteRTEngine(Engine):
    def __init__(self, data: bytes, reference_kernels: bool = False) -> None:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        resolver = OpResolverType.BUILTIN_REF if reference_kernels else OpResolverType.AUTO
        self.it = Interpreter(model_content=data, experimental_op_resolver_type=resolver)
        self.it.allocate_tensors()
        self._in = self.it.get_input_details()
        self._out = self.it.get_output_details()
        self.inputs = [_litert_info(d) for d in self._in]
        self.outputs = [_litert_info(d) for d in self._out]

    def reset(self) -> None:
        self.it.reset_all_variables()

    def run(self, feeds: list[np.ndarray]) -> list[np.ndarray]:
        for d, v in zip(self._in, feeds):
            self.it.set_tensor(d["index"], v)
        self.it.invoke()
        return [self.it.get_tensor(d["index"]).copy() for d in self._out]


def _litert_info(d: dict) -> TensorInfo:
    scale, zp = d["quantization"]
    return TensorInfo(d["name"], tuple(int(s) for s in d["shape"]), np.dtype(d["dtype"]).name, float(scale), int(zp))


class TFLMEngine(Engine):
    """TFLite Micro's reference kernels through its Python interpreter: what a microcontroller computes."""

    def __init__(self, data: bytes) -> None:
        from tflite_micro import runtime

        self.it = runtime.Interpreter.from_bytes(data)
        # TFLM's Python API has no input/output count: take it from the model's signature via LiteRT.
        counts = LiteRTEngine(data)
        self.inputs = [self._info(self.it.get_input_details(i)) for i in range(len(counts.inputs))]
        self.outputs = [self._info(self.it.get_output_details(i)) for i in range(len(counts.outputs))]

    @staticmethod
    def _info(d: dict) -> TensorInfo:
        q = d.get("quantization_parameters") or {}
        scales, zps = q.get("scales", []), q.get("zero_points", [])
        scale = float(scales[0]) if len(scales) else 0.0
        zp = int(zps[0]) if len(zps) else 0
        return TensorInfo(str(d.get("name", "")), tuple(int(s) for s in d["shape"]), np.dtype(d["dtype"]).name, scale, zp)

    def reset(self) -> None:
        self.it.reset()

    def run(self, feeds: list[np.ndarray]) -> list[np.ndarray]:
        for i, v in enumerate(feeds):
            self.it.set_input(v, i)
        self.it.invoke()
        return [np.array(self.it.get_output(i)) for i in range(len(self.outputs))]


class ORTEngine(Engine):
    def __init__(self, data: bytes) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        self.sess = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
        self.inputs = [TensorInfo(i.name, tuple(int(s) for s in i.shape), "float32", 0.0, 0) for i in self.sess.get_inputs()]
        self.outputs = [TensorInfo(o.name, tuple(int(s) if isinstance(s, int) else 1 for s in o.shape), "float32", 0.0, 0)
                        for o in self.sess.get_outputs()]

    def run(self, feeds: list[np.ndarray]) -> list[np.ndarray]:
        return self.sess.run(None, {i.name: v for i, v in zip(self.inputs, feeds)})


def _output_index(engine: Engine) -> int:
    """The model output among a step model's outputs (named 'output...' in ONNX; the first in TFLite)."""
    for k, o in enumerate(engine.outputs):
        if o.name.startswith("output"):
            return k
    return 0


def run_sequence(engine: Engine, x: np.ndarray) -> np.ndarray:
    inp, out = engine.inputs[0], engine.outputs[0]
    ys = []
    for sample in x:
        engine.reset()
        ys.append(dequantize(engine.run([quantize(sample[None], inp)])[0], out)[0])
    return np.stack(ys)


def run_stateful(engine: Engine, x: np.ndarray, output_is_sequence: bool,
                 mask_value: float | None = None) -> np.ndarray:
    """Stream each sample one timestep per invoke, carrying the state.

    ``mask_value`` (Keras Masking): a step whose every feature equals it is not invoked; state and
    output stay as they were (before any step: the reset output, 0.0).

    Step models list their state inputs and state outputs in the same order (both sorted by state
    name, see lower.tf_graph.state_order), so outputs feed back to inputs position by position.
    """
    inp = engine.inputs[0]
    n_state = len(engine.inputs) - 1
    k_out = _output_index(engine)
    out_info = engine.outputs[k_out]
    state_out = [i for i in range(len(engine.outputs)) if i != k_out]
    ys = []
    for sample in x:
        engine.reset()
        states = [quantize(np.zeros(info.shape, np.float32), info) for info in engine.inputs[1:]]
        steps = []
        last = np.zeros(int(np.prod(out_info.shape)), np.float32)
        for t in range(sample.shape[0]):
            if mask_value is not None and np.all(sample[t].astype(np.float32) == np.float32(mask_value)):
                steps.append(last)
                continue
            x_t = sample[t][None] if len(inp.shape) == 2 else sample[t][None, None]
            res = engine.run([quantize(x_t, inp)] + states)
            if n_state:
                states = [res[i] for i in state_out]  # same quantization in and out: fed back as is
            last = dequantize(res[k_out], out_info).reshape(-1)
            steps.append(last)
        ys.append(np.stack(steps) if output_is_sequence else steps[-1])
    return np.stack(ys)


def make_engine(kind: str, data: bytes) -> Engine:
    factories: dict[str, Callable[[bytes], Engine]] = {
        "litert": LiteRTEngine, "tflm": TFLMEngine, "onnxruntime": ORTEngine}
    return factories[kind](data)


def run_artifact(kind: str, data: bytes, variant: str, x: np.ndarray, output_is_sequence: bool,
                 mask_value: float | None = None) -> np.ndarray:
    engine = make_engine(kind, data)
    if variant == "stateful":
        return run_stateful(engine, x, output_is_sequence, mask_value)
    if mask_value is not None:
        raise RuntimeError(f"the {variant} graph cannot skip masked steps; run the stateful variant")
    return run_sequence(engine, x)


def run_isolated(kind: str, data: bytes, variant: str, x: np.ndarray, output_is_sequence: bool,
                 timeout_s: float = 600, mask_value: float | None = None) -> tuple[np.ndarray, dict]:
    """run_artifact in a child process: (outputs, {"inputs": [...], "outputs": [...]}).

    Raises RuntimeError with the interpreter's own message if it aborts or fails.
    """
    import json
    import os
    import subprocess

    from .. import procs

    # The child dies with edgelstm (procs guard); the janitor removes the folder even after a SIGKILL.
    with procs.temp_dir(f"edgelstm-{kind}-") as d:
        (d / "model.bin").write_bytes(data)
        np.savez(d / "job.npz", kind=kind, x=x, variant=variant, output_is_sequence=output_is_sequence,
                 mask_value=np.nan if mask_value is None else mask_value)
        try:
            proc = procs.run(procs.guarded_command("edgelstm.convert.engine_child", [str(d)]),
                             env=dict(os.environ, TMPDIR=str(d)), capture_output=True, text=True,
                             timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"{kind} did not finish within {timeout_s:.0f} s") from None
        if proc.returncode != 0 or not (d / "out.npy").exists():
            raise RuntimeError(_failure_line(proc.stderr, proc.returncode))
        return np.load(d / "out.npy"), json.loads((d / "io.json").read_text())


def _failure_line(stderr: str, returncode: int) -> str:
    """The most telling line of an interpreter's dying words."""
    lines = [l.strip() for l in stderr.splitlines()
             if l.strip() and not l.strip().startswith(("INFO:", "WARNING:", "Traceback", "File "))]
    for key in ("failed to prepare", "was not true", "Error", "error"):
        for l in lines:
            if key in l:
                return l[:200]
    if returncode < 0:
        import signal

        return f"the interpreter aborted with {signal.Signals(-returncode).name} while preparing the model"
    return (lines[-1] if lines else f"exit code {returncode}")[:200]
