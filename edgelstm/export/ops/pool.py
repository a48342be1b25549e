"""Pooling over time. MAX_POOL_2D and AVERAGE_POOL_2D as TFLite writes MaxPooling1D and
AveragePooling1D (NHWC with one spatial axis of length 1: the converter puts time on H here);
MEAN over the time axis (GlobalAveragePooling1D); REDUCE_MAX over it (GlobalMaxPooling1D); MAXIMUM, which the lowered graph (GRU models,
`unrolled`) uses for max pooling. int8 pooling and MAXIMUM do not requantize: input and output
must share scale and zero point, as TFLite's converter makes them."""
from __future__ import annotations

import numpy as np

from ...errors import UnsupportedCombination
from ..cformat import c_struct
from ..graph import Op
from ..quantparams import activation_range, activation_range_f32, conv_padding, mean_params
from ..kernels import call
from . import Context, Emitted, handler
from .conv import c_float_limits, time_axis
from .elementwise import _operands


def _same_quantization(ctx: Context, op: Op, tensors: list[int]) -> None:
    g = ctx.graph
    ref = g.t(op.outputs[0])
    for i in tensors:
        t = g.t(i)
        if t.dtype != ref.dtype or t.q_scale != ref.q_scale or t.q_zero_point != ref.q_zero_point:
            raise UnsupportedCombination(f"int8 {op.kind} whose input '{t.name}' (scale {t.q_scale:.6g}, zp "
                                         f"{t.q_zero_point}) and output (scale {ref.q_scale:.6g}, zp "
                                         f"{ref.q_zero_point}) differ is not supported by the C export")


def _pool_geometry(ctx: Context, op: Op) -> tuple[str, int]:
    """The C initializer fields in_len, channels, out_len, pool, stride, pad, and the activation code."""
    g = ctx.graph
    x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
    o = op.options
    axis = time_axis(op, x, y, (int(o.filterHeight), int(o.filterWidth)))
    pool = int(o.filterWidth if axis == 2 else o.filterHeight)
    stride = int(o.strideW if axis == 2 else o.strideH)
    out_len, pad = conv_padding(int(o.padding), x.shape[axis], pool, stride)
    if out_len != y.shape[axis] or y.shape[3] != x.shape[3]:
        raise UnsupportedCombination(f"{op.kind} output {list(y.shape)} is not what TFLite's padding gives "
                                     f"({out_len} steps); re-convert the model with edgelstm convert")
    fields = [("in_len", x.shape[axis]), ("channels", x.shape[3]), ("out_len", out_len), ("pool", pool),
              ("stride", stride), ("pad", pad)]
    return fields, int(getattr(o, "fusedActivationFunction", 0) or 0)


def _pool_s8(ctx: Context, op: Op, fn: str, what: str) -> Emitted:
    _same_quantization(ctx, op, op.inputs[:1])
    y = ctx.graph.t(op.outputs[0])
    fields, act = _pool_geometry(ctx, op)
    lo, hi = activation_range(act, y.q_scale, y.q_zero_point, "int8")
    name = ctx.op_name(op)
    defs = c_struct("el_pool_s8_t", name, fields + [("act_min", lo), ("act_max", hi)], f"{what} over time")
    return Emitted.of(defs, call(fn, f"&{name}", ctx.ptr(op.inputs[0]), ctx.ptr(op.outputs[0])))


def _pool_f32(ctx: Context, op: Op, fn: str, what: str) -> Emitted:
    fields, act = _pool_geometry(ctx, op)
    lo, hi = c_float_limits(*activation_range_f32(act))
    name = ctx.op_name(op)
    defs = c_struct("el_pool_f32_t", name, fields + [("act_min", lo), ("act_max", hi)], f"{what} over time")
    return Emitted.of(defs, call(fn, f"&{name}", ctx.ptr(op.inputs[0]), ctx.ptr(op.outputs[0])))


@handler("MAX_POOL_2D", "int8")
def maxpool_s8(ctx: Context, op: Op) -> Emitted:
    return _pool_s8(ctx, op, "maxpool_s8", "MaxPooling1D")


@handler("AVERAGE_POOL_2D", "int8")
def avgpool_s8(ctx: Context, op: Op) -> Emitted:
    return _pool_s8(ctx, op, "avgpool_s8", "AveragePooling1D")


@handler("MAX_POOL_2D", "float32")
def maxpool_f32(ctx: Context, op: Op) -> Emitted:
    return _pool_f32(ctx, op, "maxpool_f32", "MaxPooling1D")


@handler("AVERAGE_POOL_2D", "float32")
def avgpool_f32(ctx: Context, op: Op) -> Emitted:
    return _pool_f32(ctx, op, "avgpool_f32", "AveragePooling1D")


def _mean_shape(ctx: Context, op: Op) -> tuple[int, int, int]:
    """(outer, reduced, inner): the reduced axes must be one contiguous block of the input's axes."""
    g = ctx.graph
    x, axes = g.t(op.inputs[0]), g.t(op.inputs[1])
    if not axes.is_const:
        raise UnsupportedCombination(f"{op.kind} over axes computed at run time is not supported by the C export")
    dims = len(x.shape)
    resolved = sorted({int(a) + dims if int(a) < 0 else int(a) for a in axes.data.reshape(-1)})
    if not resolved or resolved != list(range(resolved[0], resolved[-1] + 1)):
        raise UnsupportedCombination(f"{op.kind} over axes {resolved} of {list(x.shape)}: the C export reduces one "
                                     "contiguous block of axes (GlobalAveragePooling1D: the time axis)")
    size = lambda s: int(np.prod(s, dtype=np.int64)) if len(s) else 1  # noqa: E731
    return (size(x.shape[:resolved[0]]), size(x.shape[resolved[0]:resolved[-1] + 1]),
            size(x.shape[resolved[-1] + 1:]))


@handler("MEAN", "int8")
def mean_s8(ctx: Context, op: Op) -> Emitted:
    g = ctx.graph
    x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
    outer, reduced, inner = _mean_shape(ctx, op)
    p = mean_params(x.q_scale, x.q_zero_point, y.q_scale, y.q_zero_point, reduced)
    name = ctx.op_name(op)
    defs = c_struct("el_mean_s8_t", name, [
        ("outer", outer), ("reduced", reduced), ("inner", inner), ("input_zero_point", p["input_zero_point"]),
        ("multiplier", p["multiplier"]), ("shift", p["shift"]), ("output_offset", p["output_offset"])],
        f"MEAN over {reduced} steps: scale {x.q_scale:.6g} zp {x.q_zero_point} -> {y.q_scale:.6g} zp "
        f"{y.q_zero_point}, 1/{reduced} folded into the multiplier (Q0.31) and shift")
    return Emitted.of(defs, call("mean_s8", f"&{name}", ctx.ptr(op.inputs[0]), ctx.ptr(op.outputs[0])))


def _reduce(ctx: Context, op: Op, kernel: str) -> Emitted:
    """A reduction kernel taking (outer, reduced, inner, x, y) as plain arguments."""
    outer, reduced, inner = _mean_shape(ctx, op)
    return Emitted.of("", call(kernel, str(outer), str(reduced), str(inner), ctx.ptr(op.inputs[0]),
                               ctx.ptr(op.outputs[0])))


@handler("MEAN", "float32")
def mean_f32(ctx: Context, op: Op) -> Emitted:
    return _reduce(ctx, op, "mean_f32")


@handler("REDUCE_MAX", "int8")
def reduce_max_s8(ctx: Context, op: Op) -> Emitted:
    _same_quantization(ctx, op, op.inputs[:1])
    return _reduce(ctx, op, "reduce_max_s8")


@handler("REDUCE_MAX", "float32")
def reduce_max_f32(ctx: Context, op: Op) -> Emitted:
    return _reduce(ctx, op, "reduce_max_f32")


@handler("MAXIMUM", "int8")
def maximum_s8(ctx: Context, op: Op) -> Emitted:
    _same_quantization(ctx, op, op.inputs[:2])
    (pa, pb), defs, n = _operands(ctx, op)
    return Emitted.of(defs, call("maximum_s8", str(n), pa, pb, ctx.ptr(op.outputs[0])))


@handler("MAXIMUM", "float32")
def maximum_f32(ctx: Context, op: Op) -> Emitted:
    (pa, pb), defs, n = _operands(ctx, op)
    return Emitted.of(defs, call("maximum_f32", str(n), pa, pb, ctx.ptr(op.outputs[0])))
