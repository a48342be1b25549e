"""Ops that only move bytes (reshape, slice, unpack, concatenate, reverse): compiled to memcpy
runs. Which input element lands where is learned by running the op itself in TFLite Micro on
inputs that hold their own indices, so the C copies follow TFLite's semantics exactly.

A constant data input (the zero padding a 'same' Conv1D concatenates in the lowered graph) is
fed indices like the others, then copied from a const array holding its values."""
from __future__ import annotations

import hashlib

import numpy as np

from ...errors import UnsupportedCombination
from ..cformat import c_array, c_identifier
from ..graph import Graph, Op, one_op_model
from . import Context, Emitted, handler

MOVE_OPS = ("RESHAPE", "SQUEEZE", "EXPAND_DIMS", "STRIDED_SLICE", "SLICE", "UNPACK", "PACK",
            "CONCATENATION", "REVERSE_V2", "TRANSPOSE")
_ALL_DATA = ("CONCATENATION", "PACK")  # every input is data; the other ops take data from input 0 only


def data_inputs(g: Graph, op: Op) -> list[int]:
    """The inputs whose elements the op moves (constants included); the rest are parameters
    (shapes, axes, begin/end/strides)."""
    if op.kind in _ALL_DATA:
        return [i for i in op.inputs if i >= 0]
    return [op.inputs[0]]


def _run_tflm(model: bytes, feeds: list[np.ndarray], n_out: int) -> list[np.ndarray]:
    from tflite_micro import runtime

    it = runtime.Interpreter.from_bytes(model)
    for k, v in enumerate(feeds):
        it.set_input(v, k)
    it.invoke()
    return [np.asarray(it.get_output(k)).reshape(-1) for k in range(n_out)]


def source_indices(ctx: Context, op: Op) -> tuple[list[int], list[np.ndarray]]:
    """(data inputs, per output the global source element of each output element). Elements are
    numbered across the data inputs in order, constants included."""
    g = ctx.graph
    srcs = data_inputs(g, op)
    sizes = [g.t(i).size for i in srcs]
    starts = np.cumsum([0] + sizes)
    dtype = g.t(srcs[0]).dtype
    model = one_op_model(g, op, srcs)
    if dtype == "float32":
        feeds = [np.arange(s0, s0 + n, dtype=np.float32).reshape(g.t(i).shape) for i, s0, n in zip(srcs, starts, sizes)]
        outs = _run_tflm(model, feeds, len(op.outputs))
        return srcs, [o.astype(np.int64) for o in outs]
    if starts[-1] > 65536:
        raise UnsupportedCombination(f"{op.kind} on more than 65536 elements is not supported by the C export")
    info = np.iinfo(dtype)
    digits = []
    for part in (lambda v: v % 256, lambda v: v // 256):
        feeds = [(part(np.arange(s0, s0 + n)) + info.min).astype(dtype).reshape(g.t(i).shape)
                 for i, s0, n in zip(srcs, starts, sizes)]
        digits.append([o.astype(np.int64) - info.min for o in _run_tflm(model, feeds, len(op.outputs))])
    return srcs, [lo + 256 * hi for lo, hi in zip(*digits)]


def _check_same_quantization(ctx: Context, op: Op, tensors: list[int]) -> None:
    g = ctx.graph
    ref = g.t(op.outputs[0])
    for i in tensors:
        t = g.t(i)
        if t.dtype != ref.dtype or (t.scale.size and (t.q_scale != ref.q_scale or t.q_zero_point != ref.q_zero_point)):
            raise UnsupportedCombination(f"{op.kind} that requantizes (input and output scales differ) "
                                         "is not supported by the C export")


def _const_source(ctx: Context, tensor: int) -> tuple[str, str]:
    """(C name, definition or '') of a constant data input; equal constants share one array."""
    t = ctx.graph.t(tensor)
    digest = hashlib.sha1(t.data.tobytes() + t.dtype.encode()).hexdigest()[:8]
    name = c_identifier(f"{ctx.prefix}_const_{digest}")
    if not ctx.first_use(name):
        return name, ""
    values = np.unique(t.data)
    what = f"all {values[0]}" if values.size == 1 else f"{t.size} values"
    return name, c_array(name, t.data, f"constant input {list(t.shape)} of a data movement ({what})")


def move(ctx: Context, op: Op) -> Emitted:
    srcs, maps = source_indices(ctx, op)
    _check_same_quantization(ctx, op, srcs + op.outputs)
    g = ctx.graph
    starts = np.cumsum([0] + [g.t(i).size for i in srcs])
    defs, ptrs = "", []
    for i in srcs:
        if g.t(i).is_const:
            name, d = _const_source(ctx, i)
            defs += d
            ptrs.append(name)
        else:
            ptrs.append(ctx.ptr(i))
    code = []
    for out, src in zip(op.outputs, maps):
        if src.size and (src.min() < 0 or src.max() >= starts[-1]):
            raise UnsupportedCombination(f"{op.kind}: TFLite Micro's output is not a rearrangement of its inputs")
        j = 0
        while j < src.size:
            k = int(np.searchsorted(starts, src[j], side="right") - 1)
            off = int(src[j] - starts[k])
            n = 1
            while j + n < src.size and src[j + n] == src[j] + n and src[j + n] < starts[k + 1]:
                n += 1
            dst = ctx.ptr(out) + (f" + {j}" if j else "")
            srcp = ptrs[k] + (f" + {off}" if off else "")
            code.append(f"memcpy({dst}, {srcp}, {n} * sizeof(*{ctx.ptr(out)}));")
            j += n
    code[0] += f"  /* {op.kind} */"
    return Emitted(defs, code)


for _kind in MOVE_OPS:
    for _dtype in ("int8", "int16", "float32"):
        handler(_kind, _dtype)(move)
