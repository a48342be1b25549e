"""Ops that only move bytes (reshape, slice, unpack, concatenate, reverse): compiled to memcpy
runs. Which input element lands where is learned by running the op itself in TFLite Micro on
inputs that hold their own indices, so the C copies follow TFLite's semantics exactly."""
from __future__ import annotations

import numpy as np

from ...errors import UnsupportedCombination
from ..graph import Op, one_op_model
from . import Context, Emitted, handler

MOVE_OPS = ("RESHAPE", "SQUEEZE", "EXPAND_DIMS", "STRIDED_SLICE", "SLICE", "UNPACK", "PACK",
            "CONCATENATION", "REVERSE_V2", "TRANSPOSE")


def _run_tflm(model: bytes, feeds: list[np.ndarray], n_out: int) -> list[np.ndarray]:
    from tflite_micro import runtime

    it = runtime.Interpreter.from_bytes(model)
    for k, v in enumerate(feeds):
        it.set_input(v, k)
    it.invoke()
    return [np.asarray(it.get_output(k)).reshape(-1) for k in range(n_out)]


def source_indices(ctx: Context, op: Op) -> tuple[list[int], list[np.ndarray]]:
    """(activation inputs, per output the global source element of each output element)."""
    g = ctx.graph
    acts = [i for i in op.inputs if i >= 0 and not g.t(i).is_const]
    sizes = [g.t(i).size for i in acts]
    starts = np.cumsum([0] + sizes)
    dtype = g.t(acts[0]).dtype
    model = one_op_model(g, op)
    if dtype == "float32":
        feeds = [np.arange(s0, s0 + n, dtype=np.float32).reshape(g.t(i).shape) for i, s0, n in zip(acts, starts, sizes)]
        outs = _run_tflm(model, feeds, len(op.outputs))
        return acts, [o.astype(np.int64) for o in outs]
    if starts[-1] > 65536:
        raise UnsupportedCombination(f"{op.kind} on more than 65536 elements is not supported by the C export")
    info = np.iinfo(dtype)
    digits = []
    for part in (lambda v: v % 256, lambda v: v // 256):
        feeds = [(part(np.arange(s0, s0 + n)) + info.min).astype(dtype).reshape(g.t(i).shape)
                 for i, s0, n in zip(acts, starts, sizes)]
        digits.append([o.astype(np.int64) - info.min for o in _run_tflm(model, feeds, len(op.outputs))])
    return acts, [lo + 256 * hi for lo, hi in zip(*digits)]


def _check_same_quantization(ctx: Context, op: Op, tensors: list[int]) -> None:
    g = ctx.graph
    ref = g.t(op.outputs[0])
    for i in tensors:
        t = g.t(i)
        if t.dtype != ref.dtype or (t.scale.size and (t.q_scale != ref.q_scale or t.q_zero_point != ref.q_zero_point)):
            raise UnsupportedCombination(f"{op.kind} that requantizes (input and output scales differ) "
                                         "is not supported by the C export")


def move(ctx: Context, op: Op) -> Emitted:
    acts, maps = source_indices(ctx, op)
    _check_same_quantization(ctx, op, acts + op.outputs)
    g = ctx.graph
    starts = np.cumsum([0] + [g.t(i).size for i in acts])
    code = []
    for out, src in zip(op.outputs, maps):
        j = 0
        while j < src.size:
            k = int(np.searchsorted(starts, src[j], side="right") - 1)
            off = int(src[j] - starts[k])
            n = 1
            while j + n < src.size and src[j + n] == src[j] + n and src[j + n] < starts[k + 1]:
                n += 1
            dst = ctx.ptr(out) + (f" + {j}" if j else "")
            srcp = ctx.ptr(acts[k]) + (f" + {off}" if off else "")
            code.append(f"memcpy({dst}, {srcp}, {n} * sizeof(*{ctx.ptr(out)}));")
            j += n
    code[0] += f"  /* {op.kind} */"
    return Emitted("", code)


for _kind in MOVE_OPS:
    for _dtype in ("int8", "int16", "float32"):
        handler(_kind, _dtype)(move)
