"""Traces: every tagged tensor of a model over a batch of sequences, as float arrays (steps, N, width).

The float trace runs the lowered math (lower.cells) in float64. A quantized trace reads the same
tags out of an artifact and dequantizes them, together with each tag's quantization (QParam):
  * lowered .tflite (unrolled, GRU sequence, step graphs): LiteRT with every tensor preserved;
    tensors are named ``<tag>@<step>`` (``<tag>`` in step graphs, one invoke per step);
  * fused-LSTM .tflite: the op's internals are not tensors; the kernel's integer reference
    (export.lstm_s8, bit-exact with TFLite Micro) gives every gate, cell and hidden value;
  * .onnx QDQ graphs: onnxruntime, with each tagged tensor's DequantizeLinear output added
    as a graph output.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..ir import ModelDesc
from ..lower import cells, tags
from ..lower.ranges import NumpyBackend

Trace = dict[str, np.ndarray]  # tag -> (steps, N, width)


@dataclass(frozen=True)
class QParam:
    """One tensor's quantization: real = (q - zero_point) * scale, q in [qmin, qmax]."""

    scale: float
    zero_point: int
    qmin: int
    qmax: int

    @property
    def dtype(self) -> str:
        return {(-128, 127): "int8", (-32768, 32767): "int16", (0, 255): "uint8"}.get((self.qmin, self.qmax), "int")

    @property
    def range(self) -> tuple[float, float]:
        return ((self.qmin - self.zero_point) * self.scale, (self.qmax - self.zero_point) * self.scale)

    def fake(self, v: np.ndarray) -> np.ndarray:
        q = np.clip(np.round(v / self.scale) + self.zero_point, self.qmin, self.qmax)
        return (q - self.zero_point) * self.scale

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        return (np.asarray(q, np.float64) - self.zero_point) * self.scale


def qparam(dtype: str, scale: float, zero_point: int) -> QParam:
    info = np.iinfo(np.dtype(dtype))
    return QParam(float(scale), int(zero_point), int(info.min), int(info.max))


@dataclass
class Quantized:
    """What an artifact computed: dequantized traces, the quantization of each tag, and notes."""

    trace: Trace
    params: dict[str, QParam]  # one per tag (the first step's where steps differ)
    notes: list[str]
    step_params: dict[tuple[str, int], QParam] | None = None  # per (tag, step) where each step has its own

    def param(self, tag: str, step: int) -> QParam | None:
        if self.step_params and (tag, step) in self.step_params:
            return self.step_params[(tag, step)]
        return self.params.get(tag)


class _Recorder(NumpyBackend):
    """NumpyBackend that keeps every value of every tag, in the order the graph computes them."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, list[np.ndarray]] = {}

    def _rec(self, tag: str, v: np.ndarray) -> np.ndarray:
        self.values.setdefault(tag, []).append(np.asarray(v, np.float64))
        return v

    def state(self, a: Any, tag: str) -> Any:
        return a  # recorded when computed, under the same tag


def float_trace(desc: ModelDesc, x: np.ndarray) -> Trace:
    """The float model's lowered math over x (N, T, F), every tag; 'input' and 'output' included."""
    be = _Recorder()
    xs = [x[:, t, :].astype(np.float64) for t in range(x.shape[1])]
    out = cells.model_sequence(be, desc, xs, lambda tag, n: np.zeros((x.shape[0], n)))
    trace = {tag: np.stack(v) for tag, v in be.values.items()}
    trace["input"] = np.stack(xs)
    trace["output"] = np.stack(out) if isinstance(out, list) else np.asarray(out)[None]
    return trace


def tag_order(trace: Trace) -> list[str]:
    """Tags in the order the graph first computes them ('input' first, 'output' last)."""
    rest = [t for t in trace if t not in ("input", "output")]
    return ["input", *rest, "output"]


# ---- .tflite ------------------------------------------------------------------------------
def _litert(data: bytes) -> Any:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_content=data, experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
                     experimental_preserve_all_tensors=True)
    it.allocate_tensors()
    return it


def _tensor_qparam(d: dict) -> QParam | None:
    scale, zp = d["quantization"]
    dtype = np.dtype(d["dtype"]).name
    if not scale or dtype not in ("int8", "int16", "uint8"):
        return None
    return qparam(dtype, scale, zp)


def tflite_lowered(data: bytes, x: np.ndarray, stateful: bool) -> Quantized:
    """Every tagged tensor of a lowered .tflite over x (N, T, F)."""
    it = _litert(data)
    details = it.get_tensor_details()
    tagged = {}
    for d in details:
        found = tags.parse_tensor_name(d["name"])
        if found and np.dtype(d["dtype"]).name != "int32":  # int32: folded biases, constants
            tagged[d["index"]] = (found, _tensor_qparam(d))
    ins, outs = it.get_input_details(), it.get_output_details()
    params = {tag: p for (tag, _), p in tagged.values() if p is not None}
    values: dict[tuple[str, int], list[np.ndarray]] = {}

    def collect(step_offset: int) -> None:
        for i, ((tag, k), p) in tagged.items():
            v = it.get_tensor(i)
            v = p.dequantize(v) if p is not None else np.asarray(v, np.float64)
            values.setdefault((tag, step_offset + k), []).append(v.reshape(-1))

    in_p = _tensor_qparam(ins[0])
    for sample in x:
        if not stateful:
            it.set_tensor(ins[0]["index"], _quantize(sample[None], in_p, ins[0]["dtype"]))
            it.invoke()
            collect(0)
            continue
        states = [np.full(d["shape"], _tensor_qparam(d).zero_point if _tensor_qparam(d) else 0, d["dtype"])
                  for d in ins[1:]]
        state_out = _state_outputs(ins, outs)
        for t in range(sample.shape[0]):
            it.set_tensor(ins[0]["index"], _quantize(sample[t][None], in_p, ins[0]["dtype"]))
            for d, s in zip(ins[1:], states):
                it.set_tensor(d["index"], s)
            it.invoke()
            collect(t)
            states = [it.get_tensor(outs[j]["index"]).copy() for j in state_out]
    by_tag: dict[str, dict[int, np.ndarray]] = {}
    for (tag, k), vs in values.items():
        by_tag.setdefault(tag, {})[k] = np.stack(vs)
    trace = {tag: np.stack([steps[k] for k in sorted(steps)]) for tag, steps in by_tag.items()}
    if in_p is not None:
        params["input"] = in_p
    return Quantized(trace, params, [])


def _state_outputs(ins: list[dict], outs: list[dict]) -> list[int]:
    """Indices of the step graph's state outputs, in the order of its state inputs (see runners)."""
    k_out = next((k for k, o in enumerate(outs) if "output" in o["name"] and "state" not in o["name"]), 0)
    return [k for k in range(len(outs)) if k != k_out][: len(ins) - 1]


def _quantize(v: np.ndarray, p: QParam | None, dtype: Any) -> np.ndarray:
    if p is None:
        return np.asarray(v, dtype)
    return np.clip(np.round(v / p.scale) + p.zero_point, p.qmin, p.qmax).astype(dtype)


def tflite_fused(data: bytes, desc: ModelDesc, x: np.ndarray) -> Quantized:
    """The fused int8 LSTM ops' internals from the kernel's integer reference (bit-exact with TFLite Micro)."""
    from tensorflow.lite.tools import flatbuffer_utils as fbu

    from ..convert.cell16 import lstm_cell_tags
    from ..export.lstm_s8 import GATE_SCALE_IN, GATE_SCALE_OUT, lstm_s8_from_tflite
    from ..export.graph import read_graph

    g = read_graph(data)
    model = fbu.read_model_from_bytearray(bytearray(data))
    lstm_ops = [op.index for op in g.ops if op.kind == "UNIDIRECTIONAL_SEQUENCE_LSTM"]
    layer_tags = lstm_cell_tags(desc)
    notes: list[str] = []
    trace: Trace = {}
    params: dict[str, QParam] = {}
    n_rec = len(desc.recurrent_layers)
    if desc.has_bidirectional or len(lstm_ops) != len(layer_tags) or any(
            l.type != "recurrent" for l in desc.layers[:n_rec]):
        notes.append("the fused LSTM internals are traced for stacked unidirectional LSTMs only; "
                     "this artifact's tensors are its inputs and outputs")
        return Quantized(trace, params, notes)
    x_p = qparam("int8", g.t(g.inputs[0]).q_scale, g.t(g.inputs[0]).q_zero_point)
    xq = np.clip(np.round(x / x_p.scale) + x_p.zero_point, -128, 127).astype(np.int64)
    q16 = (-32768, 32767)
    for op_index, lt in zip(lstm_ops, layer_tags):
        L = lstm_s8_from_tflite(model, 0, op_index)
        fmt = {"pre": QParam(GATE_SCALE_IN, 0, *q16), "act": QParam(GATE_SCALE_OUT, 0, *q16),
               "cell": QParam(L.cell_scale, 0, *q16), "h": qparam("int8", L.hidden_scale, L.hidden_zero_point)}
        per_sample = [L.trace(s) for s in xq]
        for key in per_sample[0]:
            p = fmt["pre"] if key.endswith(".pre") else fmt["act"] if key.endswith(".act") or key == "tc" else \
                fmt["h"] if key == "h" else fmt["cell"]
            arr = np.stack([tr[key] for tr in per_sample], axis=1)  # (T, N, units)
            trace[f"{lt}.{key}"] = p.dequantize(arr)
            params[f"{lt}.{key}"] = p
        for gate in ("input", "forget", "cell", "output"):  # the kernel adds the x and h parts in Q3.12
            params[f"{lt}.{gate}.x"] = params[f"{lt}.{gate}.h"] = fmt["pre"]
        xq = np.stack([tr["h"] for tr in per_sample])  # (N, T, units): the next layer's input
    params["input"] = x_p
    notes.append("fused UNIDIRECTIONAL_SEQUENCE_LSTM: gates Q3.12 -> Q0.15 and the int16 cell as TFLite Micro "
                 "computes them (kernel reference), not tensors of the file")
    return Quantized(trace, params, notes)


# ---- .onnx --------------------------------------------------------------------------------
def onnx_qdq(data: bytes, x: np.ndarray, stateful: bool) -> Quantized:
    """Every tagged tensor of an onnxruntime QDQ model, read after its QuantizeLinear/DequantizeLinear pair."""
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    model = onnx.load_from_string(data)
    g = model.graph
    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    produced = {o for n in g.node for o in n.output}
    tagged: dict[str, tuple[tuple[str, int], QParam | None]] = {}
    for n in g.node:
        if n.op_type != "QuantizeLinear":
            continue
        found = tags.parse(n.input[0])
        if not found:
            continue
        scale, zp = inits.get(n.input[1]), inits.get(n.input[2]) if len(n.input) > 2 else None
        dq = next((m.output[0] for m in g.node if m.op_type == "DequantizeLinear" and m.input[0] == n.output[0]), None)
        if dq is None or scale is None or scale.size != 1:
            continue
        p = qparam(np.asarray(zp).dtype.name if zp is not None else "int8", float(scale), int(zp) if zp is not None else 0)
        tagged[dq] = (found, p)
    for name in sorted(produced):  # tagged tensors onnxruntime left in float
        found = tags.parse(name)
        if found and name not in tagged and not any(v[0] == found for v in tagged.values()):
            tagged[name] = (found, None)
    existing = {o.name for o in g.output}
    for name in tagged:
        if name not in existing:
            g.output.append(onnx.helper.make_empty_tensor_value_info(name))
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    out_names = [o.name for o in sess.get_outputs()]
    in_names = [i.name for i in sess.get_inputs()]
    values: dict[tuple[str, int], list[np.ndarray]] = {}
    state_in = in_names[1:]
    for sample in x:
        if not stateful:
            res = dict(zip(out_names, sess.run(None, {in_names[0]: sample[None].astype(np.float32)})))
            for name, (found, _) in tagged.items():
                values.setdefault(found, []).append(np.asarray(res[name], np.float64).reshape(-1))
            continue
        states = {n: np.zeros([int(d) if isinstance(d, int) else 1 for d in i.shape], np.float32)
                  for n, i in zip(state_in, sess.get_inputs()[1:])}
        for t in range(sample.shape[0]):
            res = dict(zip(out_names, sess.run(None, {in_names[0]: sample[t][None].astype(np.float32), **states})))
            for name, ((tag, _), _) in tagged.items():
                values.setdefault((tag, t), []).append(np.asarray(res[name], np.float64).reshape(-1))
            states = {n: res[n + "_out"] for n in state_in}
    by_tag: dict[str, dict[int, np.ndarray]] = {}
    for (tag, k), vs in values.items():
        by_tag.setdefault(tag, {})[k] = np.stack(vs)
    trace = {tag: np.stack([steps[k] for k in sorted(steps)]) for tag, steps in by_tag.items()}
    params: dict[str, QParam] = {}
    step_params: dict[tuple[str, int], QParam] = {}
    for found, p in sorted(((f, p) for f, p in tagged.values() if p is not None), key=lambda fp: fp[0]):
        params.setdefault(found[0], p)
        step_params[found] = p
    notes = [] if stateful else ["onnxruntime calibrates every unrolled step on its own: the ranges shown are "
                                 "step 0's; the simulation uses each step's"]
    return Quantized(trace, params, notes, None if stateful else step_params)
