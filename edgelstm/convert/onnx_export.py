"""ONNX conversion of one (variant, quant). Runs inside the converter child process.

sequence  tf_keras clone through tf2onnx: ONNX LSTM / GRU ops (Keras 3 would give Loop).
unrolled  the lowered per-gate graph over T steps: MatMul/Add/Mul/Sigmoid/Tanh.
stateful  the lowered one-step graph with explicit state inputs/outputs (float).
Quantization by onnxruntime: dynamic (quantize_dynamic) and int8 (quantize_static, QDQ, per-channel),
both with reduce_range (7-bit weights) so CPUs without VNNI do not saturate. In int8 the cell state of
lowered LSTMs (c and f*c, state inputs/outputs included) is quantized to int16, for the reason
convert.cell16 gives: an int8 cell collapses over long sequences (measured on the regression model,
test split: unrolled 0.83 and stateful 0.98 max error all-int8).
"""
from __future__ import annotations

import hashlib
import heapq
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402

from . import rules  # noqa: E402
from ..ir import ModelDesc  # noqa: E402
from ..lower import tags, tf_graph, tf_keras_clone  # noqa: E402
from .cell16 import lstm_cell_tags  # noqa: E402
from .tflite import step_calibration  # noqa: E402

OPSET = 17


def _float_model(desc: ModelDesc, variant: str) -> Any:
    import tf2onnx

    if variant == "sequence":
        keras_model = tf_keras_clone.build(desc)
        spec = [tf.TensorSpec([1, desc.seq_len, desc.input_size], tf.float32, name="input")]
        fn = tf.function(lambda x: {"output": keras_model(x)}, input_signature=spec)
    elif variant == "unrolled":
        fn = tf_graph.sequence_function(desc, None)
    else:
        fn = tf_graph.step_function(desc, None)
    sig = fn.get_concrete_function().structured_input_signature[0]
    tf2onnx.utils.INTERNAL_NAME = 1  # the name counter is process-wide: restart it for every graph
    model, _ = tf2onnx.convert.from_function(fn, input_signature=sig, opset=OPSET)
    _scalar_gemm_attributes(model)
    return canonicalize(model)


def _scalar_gemm_attributes(model: Any) -> None:
    """tf2onnx 1.17 can emit a Gemm's alpha/beta as a one-element list (after folding a matmul of a
    constant zero part of a window, a padded Conv1D edge); ONNX wants a float."""
    import onnx

    for node in model.graph.node:
        if node.op_type != "Gemm":
            continue
        for a in node.attribute:
            if a.name in ("alpha", "beta") and a.type == onnx.AttributeProto.FLOATS:
                value = float(a.floats[0]) if len(a.floats) else 0.0
                a.ClearField("floats")
                a.type, a.f = onnx.AttributeProto.FLOAT, value


def _sha(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()


def _content_hash(tensor: Any) -> str:
    """An initializer's hash without its name."""
    c = type(tensor)()
    c.CopyFrom(tensor)
    c.ClearField("name")
    c.ClearField("doc_string")
    return _sha("tensor", c.SerializeToString(deterministic=True))


def _subgraphs(node: Any) -> list[Any]:
    return [g for a in node.attribute for g in ([a.g] if a.HasField("g") else []) + list(a.graphs)]


def _free_names(graph: Any) -> set[str]:
    """Names a (sub)graph reads from the scopes around it."""
    defined = {i.name for i in graph.input} | {t.name for t in graph.initializer}
    used: set[str] = set()
    for node in graph.node:
        used.update(i for i in node.input if i)
        for sub in _subgraphs(node):
            used |= _free_names(sub)
        defined.update(node.output)
    used.update(o.name for o in graph.output)
    return used - defined


def _node_hash(node: Any, hashes: dict[str, str]) -> str:
    """Op, attributes (subgraphs in canonical form) and the hashes of everything the node reads."""
    attrs = []
    for a in sorted(node.attribute, key=lambda a: a.name):
        c = type(a)()
        c.CopyFrom(a)
        c.ClearField("doc_string")
        for sub in ([c.g] if c.HasField("g") else []) + list(c.graphs):
            _canonical_graph(sub, {n: "h:" + h for n, h in hashes.items()}, hashes, "sub/", top=False)
        attrs.append(c.SerializeToString(deterministic=True))
    inputs = [hashes.get(i, "?" + i) if i else "" for i in node.input]
    return _sha("node", node.op_type, node.domain, *attrs, "inputs", *inputs)


def _topological(graph: Any, hashes: dict[str, str]) -> list[Any]:
    """Kahn's algorithm; among ready nodes the smallest content hash goes first. Fills ``hashes``."""
    nodes = list(graph.node)
    needs = [{i for i in n.input if i} | set().union(*(_free_names(g) for g in _subgraphs(n))) for n in nodes]
    missing = [{i for i in need if i not in hashes} for need in needs]
    waiting: dict[str, list[int]] = {}
    for k, names in enumerate(missing):
        for name in names:
            waiting.setdefault(name, []).append(k)
    ready = [(_node_hash(nodes[k], hashes), k) for k, m in enumerate(missing) if not m]
    heapq.heapify(ready)
    order = []
    while ready:
        h, k = heapq.heappop(ready)
        order.append(nodes[k])
        for j, out in enumerate(nodes[k].output):
            if not out:
                continue
            hashes[out] = _sha(h, str(j))
            for c in waiting.pop(out, []):
                missing[c].discard(out)
                if not missing[c]:
                    heapq.heappush(ready, (_node_hash(nodes[c], hashes), c))
    if len(order) != len(nodes):
        raise ValueError("the ONNX graph reads a tensor nothing defines (or has a cycle); cannot order it")
    return order


def _canonical_graph(graph: Any, outer_names: dict[str, str], outer_hashes: dict[str, str], prefix: str,
                     top: bool) -> None:
    """Reorder and rename one graph in place. The top graph keeps its input and output names; a subgraph's
    inputs are positional and renamed, and names of the enclosing scopes follow ``outer_names``."""
    _separate_outputs(graph)
    hashes, names = dict(outer_hashes), dict(outer_names)
    for k, i in enumerate(graph.input):
        hashes[i.name] = _sha("input", i.name if top else str(k))
        names[i.name] = i.name if top else f"{prefix}in{k}"
    inits = [t for t in graph.initializer if t.name not in names]  # (an initializer named as an input: a default)
    for t in inits:
        hashes[t.name] = _content_hash(t)
    order = _topological(graph, hashes)
    keep = {o.name for o in graph.output} if top else set()
    for k, node in enumerate(order):
        for j, out in enumerate(node.output):
            if out:
                # tensors named after lowered-graph tags (lower.tags) keep their deterministic names: the int16
                # cell overrides and `edgelstm inspect` find them by name
                names[out] = out if out in keep or (top and tags.parse(out)) else f"{prefix}{node.op_type}_{k}:{j}"
    first_use = {n: k for k, node in reversed(list(enumerate(order)))
                 for n in [*node.input, *set().union(*(_free_names(g) for g in _subgraphs(node)))]}
    inits.sort(key=lambda t: (first_use.get(t.name, len(order)), hashes[t.name]))
    for k, t in enumerate(inits):
        names[t.name] = f"{prefix}w{k}"
    nodes = []
    for k, node in enumerate(order):
        c = type(node)()
        c.CopyFrom(node)
        c.name = f"{prefix}{node.op_type}_{k}"
        c.ClearField("doc_string")
        if not c.domain:
            c.ClearField("domain")
        c.input[:] = [names.get(i, i) for i in node.input]
        c.output[:] = [names.get(o, o) for o in node.output]
        for sub in _subgraphs(c):
            _canonical_graph(sub, names, hashes, f"{c.name}/", top=False)
        nodes.append(c)
    defaults = [t for t in graph.initializer if t.name in {i.name for i in graph.input}]
    new_inits = []
    for t in defaults + inits:
        c = type(t)()
        c.CopyFrom(t)
        c.name = names[t.name]
        new_inits.append(c)
    value_info = []
    for vi in graph.value_info:
        if vi.name in names:
            c = type(vi)()
            c.CopyFrom(vi)
            c.name = names[vi.name]
            value_info.append(c)
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.initializer[:]
    graph.initializer.extend(new_inits)
    del graph.value_info[:]
    graph.value_info.extend(sorted(value_info, key=lambda v: v.name))
    for vi in [*graph.input, *graph.output]:
        vi.name = names.get(vi.name, vi.name)
    graph.ClearField("doc_string")
    if not top:
        graph.name = f"{prefix}graph"


def _separate_outputs(graph: Any) -> None:
    """Every graph output as Identity(source) of its own, the rest of the graph reading the source.

    Two outputs holding one tensor (a one-layer model's output and its h state) come out of tf2onnx
    either as Mul -> output -> Identity -> state or as Mul -> state -> Identity -> output, depending
    on set order; after this both are Mul -> t, Identity(t) -> output, Identity(t) -> state."""
    import onnx

    outputs = {o.name for o in graph.output}
    source: dict[str, str] = {}
    nodes = []
    for node in graph.node:
        if node.op_type == "Identity" and node.output[0] in outputs:
            source[node.output[0]] = node.input[0]
            continue
        c = type(node)()
        c.CopyFrom(node)
        for j, out in enumerate(c.output):
            if out in outputs:
                c.output[j] = source[out] = f"{out}/source"
        nodes.append(c)

    def resolve(name: str) -> str:
        seen = set()
        while name in source and name not in seen:
            seen.add(name)
            name = source[name]
        return name

    for c in nodes:
        c.input[:] = [resolve(i) for i in c.input]
    inputs = {i.name for i in graph.input}
    for o in graph.output:
        if o.name not in inputs:
            nodes.append(onnx.helper.make_node("Identity", [resolve(o.name)], [o.name]))
    del graph.node[:]
    graph.node.extend(nodes)


def canonicalize(model: Any) -> Any:
    """The same model in a canonical form: byte-identical for identical graphs, however tf2onnx named and
    ordered them (see the module docstring). Graph inputs and outputs keep their names."""
    model.ClearField("doc_string")
    _canonical_graph(model.graph, {}, {}, "", top=True)
    return model


class _Reader:
    """onnxruntime CalibrationDataReader over the calibration samples."""

    def __init__(self, feeds: list[dict[str, np.ndarray]]) -> None:
        self._it = iter(feeds)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._it, None)


def _calibration_feeds(desc: ModelDesc, variant: str, input_names: list[str], calib_x: np.ndarray) -> list[dict]:
    if variant == "stateful":
        return [dict(zip(input_names, inputs)) for inputs in step_calibration(desc, calib_x)]
    return [{input_names[0]: s[None].astype(np.float32)} for s in calib_x[:64]]


def int16_cell_overrides(desc: ModelDesc, model: Any) -> dict[str, list[dict]]:
    """onnxruntime TensorQuantOverrides putting every LSTM cell-state tensor of a lowered graph in int16."""
    from onnxruntime.quantization import QuantType

    layers = lstm_cell_tags(desc)
    wide = {f"{lt}.{what}" for lt in layers for what in ("c", "fc")}
    states = tuple(tf_graph.state_name(f"{lt}.c") for lt in layers)
    g = model.graph
    names = sorted({o for n in g.node for o in n.output} | {v.name for v in (*g.input, *g.output)})
    out = {}
    for name in names:
        found = tags.parse(name)
        if (found and found[0] in wide) or (states and name.startswith(states)):
            out[name] = [{"quant_type": QuantType.QInt16, "symmetric": True}]
    for node in reversed(g.node):  # a state output is an Identity of the ADD that computes the new c
        if node.op_type == "Identity" and node.output[0] in out:
            out[node.input[0]] = out[node.output[0]]
    return out


def convert_onnx(desc: ModelDesc, variant: str, quant: str, calib_x: np.ndarray | None,
                 lstm_cell: str = "int16") -> bytes:
    import onnx

    rules.check(desc, "onnx", variant, quant)
    model = _float_model(desc, variant)
    onnx.checker.check_model(model)
    if quant == "float32":
        return model.SerializeToString(deterministic=True)
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory() as tmp:
        src, pre, dst = Path(tmp, "f.onnx"), Path(tmp, "p.onnx"), Path(tmp, "q.onnx")
        onnx.save(model, src)
        try:
            quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        except Exception:  # pre-processing is an optimisation; quantize the plain model if it fails
            pre = src
        if quant == "dynamic":
            quantize_dynamic(str(pre), str(dst), weight_type=QuantType.QInt8, reduce_range=True)
        else:
            assert calib_x is not None
            names = [i.name for i in model.graph.input]
            quantize_static(str(pre), str(dst), _Reader(_calibration_feeds(desc, variant, names, calib_x)),
                            quant_format=QuantFormat.QDQ, activation_type=QuantType.QInt8,
                            weight_type=QuantType.QInt8, per_channel=True, reduce_range=True,
                            extra_options={"TensorQuantOverrides": int16_cell_overrides(desc, model)
                                           if lstm_cell == "int16" else {}})
        out = canonicalize(onnx.load(dst))
        onnx.checker.check_model(out)
        return out.SerializeToString(deterministic=True)
