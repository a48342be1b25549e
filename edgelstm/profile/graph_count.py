"""MACs and elementwise work counted again from converted graphs (.tflite, .onnx).

An independent check of ``counts``: nothing here reads the ModelDesc.

TFLite: FULLY_CONNECTED = out_features x in_features per input row;
UNIDIRECTIONAL_SEQUENCE_LSTM = (sizes of its 8 weight matrices) x T x batch, T from
its input tensor; BIDIRECTIONAL_SEQUENCE_LSTM likewise for both directions.
ONNX: LSTM/GRU (and com.microsoft DynamicQuantizeLSTM) = (size of W + size of R) x T
x batch, independent of the weight layout; MatMul/Gemm/MatMulInteger = output
elements x K. Elementwise ops count output elements.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError

_TFLITE_ELEMENTWISE = {"ADD": "add", "SUB": "sub", "MUL": "mul", "LOGISTIC": "sigmoid", "TANH": "tanh",
                       "SOFTMAX": "softmax", "RELU": "relu"}
_ONNX_ELEMENTWISE = {"Add": "add", "Sub": "sub", "Mul": "mul", "Sigmoid": "sigmoid", "Tanh": "tanh",
                     "Softmax": "softmax", "Relu": "relu"}
_ONNX_MATMULS = ("MatMul", "Gemm", "MatMulInteger", "QLinearMatMul", "FusedMatMul")
_ONNX_RNNS = ("LSTM", "GRU", "RNN", "DynamicQuantizeLSTM")


def count_tflite(model: bytes | str | Path) -> dict[str, Any]:
    """{"macs", "ops": {op: n}, "elementwise": {class: elements}, "invocation_steps"} of a .tflite graph."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    data = Path(model).read_bytes() if isinstance(model, (str, Path)) else model
    try:
        it = Interpreter(model_content=data, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    except Exception as exc:  # LiteRT raises ValueError/RuntimeError on bad flatbuffers
        raise ModelError(f"cannot read the TFLite graph ({str(exc).strip()[:160]}); pass a .tflite written by "
                         "edgelstm convert") from None
    shapes = {t["index"]: tuple(int(d) for d in t["shape"]) for t in it.get_tensor_details()}
    macs = 0
    ops: Counter[str] = Counter()
    elementwise: Counter[str] = Counter()
    per_op: list[dict[str, Any]] = []
    for op in it._get_ops_details():
        name = op["op_name"]
        ops[name] += 1
        ins = [shapes.get(i) if i >= 0 else None for i in op["inputs"]]
        out = shapes[op["outputs"][0]] if len(op["outputs"]) else ()
        m = 0
        if name == "FULLY_CONNECTED":
            w = ins[1]
            assert w is not None
            rows = int(np.prod(ins[0])) // w[1]
            m = rows * w[0] * w[1]
        elif name in ("UNIDIRECTIONAL_SEQUENCE_LSTM", "BIDIRECTIONAL_SEQUENCE_LSTM"):
            x = ins[0]
            assert x is not None
            steps = int(np.prod(x[:-1]))  # batch x time
            # UNIDIRECTIONAL: inputs 1-4 input weights, 5-8 recurrent (input gate absent under CIFG).
            # BIDIRECTIONAL: 1-8 forward, 18-25 backward.
            idx = list(range(1, 9)) if name.startswith("UNI") else list(range(1, 9)) + list(range(18, 26))
            m = steps * sum(int(np.prod(ins[k])) for k in idx if k < len(ins) and ins[k] is not None)
        elif name in _TFLITE_ELEMENTWISE:
            elementwise[_TFLITE_ELEMENTWISE[name]] += int(np.prod(out))
        macs += m
        if m:
            per_op.append({"op": name, "macs": m})
    return {"format": "tflite", "macs": macs, "ops": dict(ops), "elementwise": dict(elementwise), "mac_ops": per_op,
            "loops": []}


def _graph_shapes(graph: Any, out: dict[str, tuple[int, ...]]) -> None:
    for vi in list(graph.value_info) + list(graph.input) + list(graph.output):
        dims = vi.type.tensor_type.shape.dim
        if dims and all(d.HasField("dim_value") for d in dims):
            out[vi.name] = tuple(int(d.dim_value) for d in dims)
    for init in graph.initializer:
        out[init.name] = tuple(int(d) for d in init.dims)
    for node in graph.node:
        if node.op_type == "Constant":  # Constant nodes carry weights in some exports
            for a in node.attribute:
                if a.name == "value":
                    out[node.output[0]] = tuple(int(d) for d in a.t.dims)
        for a in node.attribute:  # Loop / Scan / If bodies
            if a.type == a.GRAPH:
                _graph_shapes(a.g, out)


def _count_onnx_graph(graph: Any, shapes: dict[str, tuple[int, ...]], acc: dict[str, Any], scale: int) -> None:
    """Accumulate MACs/elementwise of graph; ``scale`` multiplies work inside loop bodies (1 per iteration)."""
    for node in graph.node:
        acc["ops"][node.op_type] += 1
        k = 0
        if node.op_type in _ONNX_RNNS:
            x, w, r = (shapes.get(n) for n in node.input[:3])
            if x is None or w is None or r is None:
                raise ModelError(f"ONNX {node.op_type} '{node.name}' has unknown input or weight shapes; "
                                 "export with a fixed sequence length and batch 1")
            k = x[0] * x[1] * (int(np.prod(w)) + int(np.prod(r)))  # X is (T, batch, input) in layout 0
        elif node.op_type in _ONNX_MATMULS:
            a, y = shapes.get(node.input[0]), shapes.get(node.output[0])
            if a is None or y is None:
                raise ModelError(f"ONNX {node.op_type} '{node.name}' has unknown shapes; export with fixed shapes")
            trans_a = any(at.name == "transA" and at.i for at in node.attribute)
            k = int(np.prod(y)) * (a[-2] if trans_a else a[-1])
        elif node.op_type in _ONNX_ELEMENTWISE:
            y = shapes.get(node.output[0])
            if y is not None:
                acc["elementwise"][_ONNX_ELEMENTWISE[node.op_type]] += int(np.prod(y)) * scale
        elif node.op_type == "Loop":
            # A tf2onnx while loop: its trip count is data-dependent (a Less condition), so the body is
            # counted once per iteration and reported apart; callers multiply by the known T.
            body = next(a.g for a in node.attribute if a.name == "body")
            inner = {"ops": Counter(), "elementwise": Counter(), "macs": 0, "mac_ops": [], "loops": []}
            _count_onnx_graph(body, shapes, inner, 1)
            acc["ops"].update(inner["ops"])
            acc["loops"].append({"name": node.name, "body_macs": inner["macs"],
                                 "body_elementwise": dict(inner["elementwise"])})
        k *= scale
        acc["macs"] += k
        if k:
            acc["mac_ops"].append({"op": node.op_type, "macs": k})


def count_onnx(model: bytes | str | Path) -> dict[str, Any]:
    """Same as count_tflite for an ONNX graph; ``loops`` lists per-iteration work of Loop bodies."""
    import onnx

    try:
        m = onnx.load_from_string(Path(model).read_bytes() if isinstance(model, (str, Path)) else model)
    except Exception as exc:  # protobuf DecodeError and friends
        raise ModelError(f"cannot read the ONNX graph ({str(exc).strip()[:160]}); pass a .onnx written by "
                         "edgelstm convert") from None
    inferred = onnx.shape_inference.infer_shapes(m)
    shapes: dict[str, tuple[int, ...]] = {}
    _graph_shapes(inferred.graph, shapes)
    acc: dict[str, Any] = {"ops": Counter(), "elementwise": Counter(), "macs": 0, "mac_ops": [], "loops": []}
    _count_onnx_graph(inferred.graph, shapes, acc, 1)
    return {"format": "onnx", "macs": acc["macs"], "ops": dict(acc["ops"]), "elementwise": dict(acc["elementwise"]),
            "mac_ops": acc["mac_ops"], "loops": acc["loops"]}


def count_graph(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if p.suffix == ".tflite":
        return count_tflite(p)
    if p.suffix == ".onnx":
        return count_onnx(p)
    raise ModelError(f"cannot count MACs of '{p.name}': pass a .tflite or .onnx file")
