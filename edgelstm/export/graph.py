"""Read a .tflite flatbuffer into a plain op graph: tensors (shape, type, quantization, constant
data) and operators in execution order. The C generator walks this graph op by op."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ModelError

_TYPES = {0: "float32", 2: "int32", 3: "uint8", 4: "int64", 7: "int16", 9: "int8", 6: "bool"}


@dataclass
class Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    scale: np.ndarray  # float32, empty when not quantized; one per channel for per-channel weights
    zero_point: np.ndarray
    data: np.ndarray | None  # constant data, reshaped; None for activations
    is_variable: bool = False

    @property
    def size(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(self.dtype).itemsize

    @property
    def is_const(self) -> bool:
        return self.data is not None

    @property
    def q_scale(self) -> float:
        """The per-tensor scale (first entry) as the double TFLite Micro computes with."""
        return float(self.scale[0]) if self.scale.size else 0.0

    @property
    def q_zero_point(self) -> int:
        return int(self.zero_point[0]) if self.zero_point.size else 0


@dataclass
class Op:
    index: int
    kind: str  # builtin operator name, e.g. FULLY_CONNECTED
    inputs: list[int]  # -1 for an absent optional input
    outputs: list[int]
    options: Any  # the flatbuffer's builtin options object (or None)
    intermediates: list[int] = field(default_factory=list)


@dataclass
class Graph:
    tensors: list[Tensor]
    ops: list[Op]
    inputs: list[int]
    outputs: list[int]
    model: Any  # flatbuffer_utils ModelT, for cutting one-op models
    data: bytes

    def t(self, index: int) -> Tensor:
        return self.tensors[index]

    def producers(self) -> dict[int, Op]:
        return {o: op for op in self.ops for o in op.outputs}


def _op_names() -> dict[int, str]:
    from tensorflow.lite.python import schema_py_generated as schema

    return {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}


def read_graph(data: bytes) -> Graph:
    from tensorflow.lite.tools import flatbuffer_utils as fbu

    try:
        model = fbu.read_model_from_bytearray(bytearray(data))
    except Exception as e:  # noqa: BLE001 - any parse failure means the file is not a TFLite model
        raise ModelError(f"not a readable .tflite flatbuffer ({e}); export a model converted by `edgelstm convert`") from e
    if len(model.subgraphs) != 1:
        raise ModelError(f"the .tflite has {len(model.subgraphs)} subgraphs (a WHILE loop?); the C export needs "
                         "one flat graph: export from a model `edgelstm convert` lowered")
    names = _op_names()
    sg = model.subgraphs[0]
    tensors = []
    for i, t in enumerate(sg.tensors):
        dtype = _TYPES.get(int(t.type))
        if dtype is None:
            raise ModelError(f"tensor {i} has TFLite type {t.type}, which the C export does not handle")
        shape = tuple(int(s) for s in (t.shape if t.shape is not None else ()))
        q = t.quantization
        scale = np.asarray(q.scale if q is not None and q.scale is not None else [], np.float32)
        zp = np.asarray(q.zeroPoint if q is not None and q.zeroPoint is not None else [], np.int64)
        buf = model.buffers[t.buffer].data if t.buffer < len(model.buffers) else None
        arr = None
        if buf is not None and len(buf):
            arr = np.frombuffer(bytes(bytearray(buf)), dtype=dtype).reshape(shape)
        tensors.append(Tensor(i, (t.name or b"").decode(errors="replace"), shape, dtype, scale, zp, arr,
                              bool(t.isVariable)))
    ops = []
    for k, o in enumerate(sg.operators):
        code = model.operatorCodes[o.opcodeIndex]
        kind = names.get(max(int(code.builtinCode), int(code.deprecatedBuiltinCode)), f"op{code.builtinCode}")
        ops.append(Op(k, kind, [int(i) for i in o.inputs], [int(i) for i in o.outputs], o.builtinOptions,
                      [int(i) for i in (o.intermediates if o.intermediates is not None else [])]))
    return Graph(tensors, ops, [int(i) for i in sg.inputs], [int(i) for i in sg.outputs], model, data)


def one_op_model(g: Graph, op: Op, feeds: list[int] | None = None, size: int | None = None) -> bytes:
    """A model holding only ``op``; its inputs are ``feeds`` (constants among them turned into
    inputs), by default the op's non-constant inputs. With ``size``, the op's activation input and
    output are reshaped to (1, size): used to run an elementwise op of the model on a whole table
    of inputs in TFLite Micro.

    Built from the op's own tensors and buffers (not a copy of the whole model: on the large
    unrolled graphs a deep copy per op cost more than a second each)."""
    import copy

    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils as fbu

    model, sg = g.model, g.model.subgraphs[0]
    used = list(dict.fromkeys(i for i in list(op.inputs) + list(op.outputs) + list(op.intermediates) if i >= 0))
    remap = {old: new for new, old in enumerate(used)}
    acts = [i for i in op.inputs if i >= 0 and not g.t(i).is_const] if feeds is None else list(feeds)
    buffers = [schema.BufferT()]
    tensors = []
    for old in used:
        t = copy.copy(sg.tensors[old])
        if g.t(old).is_const and old not in acts:
            buf = schema.BufferT()
            buf.data = model.buffers[t.buffer].data
            buffers.append(buf)
            t.buffer = len(buffers) - 1
        else:
            t.buffer = 0
        if size is not None and old in acts + list(op.outputs):
            t.shape = np.asarray([1, size], np.int32)
            t.shapeSignature = None
        tensors.append(t)
    new_op = copy.copy(sg.operators[op.index])
    new_op.inputs = np.asarray([remap[i] if i >= 0 else -1 for i in op.inputs], np.int32)
    new_op.outputs = np.asarray([remap[i] for i in op.outputs], np.int32)
    new_op.intermediates = np.asarray([remap[i] for i in op.intermediates], np.int32) if op.intermediates else None
    sub = schema.SubGraphT()
    sub.tensors, sub.operators, sub.name = tensors, [new_op], b"one_op"
    sub.inputs = np.asarray([remap[i] for i in acts], np.int32)
    sub.outputs = np.asarray([remap[i] for i in op.outputs], np.int32)
    out = schema.ModelT()
    out.version, out.description = model.version, b"edgelstm one-op model"
    out.operatorCodes, out.subgraphs, out.buffers = model.operatorCodes, [sub], buffers
    return bytes(fbu.convert_object_to_bytearray(out))
