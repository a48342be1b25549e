"""SOFTMAX over the last axis: the classifier head."""
from __future__ import annotations

import math

from ...errors import UnsupportedCombination
from ..quantparams import quantize_multiplier
from ..cformat import c_struct
from ..kernels import call
from . import Context, Emitted, handler

_SCALED_DIFF_INTEGER_BITS = 5  # differences in Q5.26


@handler("SOFTMAX", "int8")
def softmax_s8(ctx: Context, op) -> Emitted:
    g = ctx.graph
    x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
    if y.q_zero_point != -128 or abs(y.q_scale - 1 / 256) > 1e-9:
        raise UnsupportedCombination("int8 SOFTMAX must output scale 1/256, zero point -128 (TFLite's convention)")
    beta = float(getattr(op.options, "beta", 1.0))
    real = min(beta * x.q_scale * (1 << (31 - _SCALED_DIFF_INTEGER_BITS)), (1 << 31) - 1.0)
    mult, shift = quantize_multiplier(real)
    if shift < 0:
        raise UnsupportedCombination("SOFTMAX input scale too small for TFLite's fixed-point softmax")
    radius = ((1 << _SCALED_DIFF_INTEGER_BITS) - 1) * (1 << (31 - _SCALED_DIFF_INTEGER_BITS)) / (1 << shift)
    diff_min = -int(math.floor(radius))
    depth = x.shape[-1]
    name = ctx.op_name(op)
    defs = (f"/* softmax beta {beta:g} x input scale {x.q_scale:.6g}, as Q5.26 multiplier and shift */\n"
            + c_struct("el_softmax_s8_t", name, [("rows", x.size // depth), ("depth", depth),
                                                 ("input_multiplier", mult), ("input_left_shift", shift),
                                                 ("diff_min", diff_min)]))
    return Emitted.of(defs, call("softmax_s8", f"&{name}", ctx.ptr(op.inputs[0]), ctx.ptr(op.outputs[0])))


@handler("SOFTMAX", "float32")
def softmax_f32(ctx: Context, op) -> Emitted:
    x = ctx.graph.t(op.inputs[0])
    beta = float(getattr(op.options, "beta", 1.0))
    depth = x.shape[-1]
    return Emitted.of("", call("softmax_f32", str(x.size // depth), str(depth), f"{beta!r}f", ctx.ptr(op.inputs[0]),
                               ctx.ptr(op.outputs[0])))
