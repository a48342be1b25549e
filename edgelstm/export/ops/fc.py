"""FULLY_CONNECTED: gate pre-activations (input and recurrent parts) and Dense heads; int16x8 inside a relu
GRU or SimpleRNN of an int8 model (convert.recurrent16)."""
from __future__ import annotations

import numpy as np

from ...errors import UnsupportedCombination
from ..cformat import c_array, c_struct
from ..quantparams import activation_range, activation_range_f32, activation_range_s8, quantize_multiplier
from ..kernels import call
from . import Context, Emitted, handler


def _shapes(ctx: Context, op):
    g = ctx.graph
    x, w = g.t(op.inputs[0]), g.t(op.inputs[1])
    b = g.t(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
    if w.data is None or (b is not None and b.data is None):
        raise UnsupportedCombination("FULLY_CONNECTED with non-constant weights is not supported by the C export")
    out_size, in_size = w.shape
    rows = x.size // in_size
    return x, w, b, rows, in_size, out_size


@handler("FULLY_CONNECTED", "int8")
def fc_s8(ctx: Context, op) -> Emitted:
    x, w, b, rows, in_size, out_size = _shapes(ctx, op)
    y = ctx.graph.t(op.outputs[0])
    if np.any(w.zero_point != 0):
        raise UnsupportedCombination("FULLY_CONNECTED int8 with asymmetric weights is not supported")
    per_channel = w.scale.size > 1
    mults, shifts = zip(*(quantize_multiplier(float(x.q_scale) * float(ws) / float(y.q_scale))
                          for ws in (w.scale if per_channel else w.scale[:1])))
    name, wname = ctx.op_name(op), ctx.weight_name(op.inputs[1])
    act = int(getattr(op.options, "fusedActivationFunction", 0) or 0)
    lo, hi = activation_range_s8(act, y.q_scale, y.q_zero_point)
    defs = c_array(wname, w.data, f"{out_size} x {in_size} int8 weights, scale "
                   f"{'per output channel' if per_channel else f'{w.q_scale:.6g}'}") if ctx.first_use(op.inputs[1]) else ""
    # the input zero point folded into the bias: sum (x - zp) w + b = sum x w + (b - zp sum w)
    bias = (b.data.astype(np.int64) if b is not None else np.zeros(out_size, np.int64))
    bias = bias - x.q_zero_point * w.data.astype(np.int64).sum(axis=1)
    if np.abs(bias).max(initial=0) >= 2**31:
        raise UnsupportedCombination(f"FULLY_CONNECTED {name}: folded bias overflows int32")
    bname = (ctx.weight_name(op.inputs[2]) if b is not None else wname.replace("_w", "_b", 1) + "_zp") \
        + (f"_zp{x.q_zero_point}".replace("-", "m") if x.q_zero_point else "")
    if ctx.first_use(bname):
        defs += c_array(bname, bias.astype(np.int32), f"{out_size} int32 bias (scale input x weight), input zero point "
                        f"{x.q_zero_point} folded in")
    defs += c_array(f"{name}_mult", np.array(mults, np.int32), "requantization multipliers (Q0.31)")
    defs += c_array(f"{name}_shift", np.array(shifts, np.int32), "requantization shifts")
    defs += c_struct("el_fc_s8_t", name, [
        ("rows", rows), ("in_size", in_size), ("out_size", out_size), ("weights", wname), ("bias", bname),
        ("multiplier", f"{name}_mult"), ("shift", f"{name}_shift"), ("per_channel", int(per_channel)),
        ("output_offset", y.q_zero_point), ("act_min", lo), ("act_max", hi)])
    return Emitted.of(defs, call("fc_s8", f"&{name}", ctx.ptr(op.inputs[0]), ctx.ptr(op.outputs[0])))


@handler("FULLY_CONNECTED", "int16")
def fc_s16(ctx: Context, op) -> Emitted:
    """16x8: int16 input and output (zero points 0), int8 symmetric weights, int64 bias (TFLite Micro's
    int16 FULLY_CONNECTED with its 64-bit requantization)."""
    x, w, b, rows, in_size, out_size = _shapes(ctx, op)
    y = ctx.graph.t(op.outputs[0])
    if w.dtype != "int8" or np.any(w.zero_point != 0) or x.q_zero_point or y.q_zero_point:
        raise UnsupportedCombination("FULLY_CONNECTED int16 needs int8 symmetric weights and int16 zero points 0")
    if b is not None and b.dtype != "int64":
        raise UnsupportedCombination(f"FULLY_CONNECTED int16 with a {b.dtype} bias is not supported (int64 only)")
    per_channel = w.scale.size > 1
    mults, shifts = zip(*(quantize_multiplier(float(x.q_scale) * float(ws) / float(y.q_scale))
                          for ws in (w.scale if per_channel else w.scale[:1])))
    name, wname = ctx.op_name(op), ctx.weight_name(op.inputs[1])
    lo, hi = activation_range(int(getattr(op.options, "fusedActivationFunction", 0) or 0), y.q_scale, 0, "int16")
    defs = c_array(wname, w.data, f"{out_size} x {in_size} int8 weights, scale "
                   f"{'per output channel' if per_channel else f'{w.q_scale:.6g}'}") if ctx.first_use(op.inputs[1]) else ""
    bias = "0"
    if b is not None:
        bias = ctx.weight_name(op.inputs[2])
        if ctx.first_use(op.inputs[2]):
            defs += c_array(bias, b.data, f"{out_size} int64 bias (scale input x weight)")
    defs += c_array(f"{name}_mult", np.array(mults, np.int32), "requantization multipliers (Q0.31)")
    defs += c_array(f"{name}_shift", np.array(shifts, np.int32), "requantization shifts")
    defs += c_struct("el_fc_s16_t", name, [
        ("rows", rows), ("in_size", in_size), ("out_size", out_size), ("weights", wname), ("bias", bias),
        ("multiplier", f"{name}_mult"), ("shift", f"{name}_shift"), ("per_channel", int(per_channel)),
        ("act_min", lo), ("act_max", hi)],
        f"int16 x int8 FULLY_CONNECTED: scales {x.q_scale:.6g} x w -> {y.q_scale:.6g}")
    return Emitted.of(defs, call("fc_s16", f"&{name}", ctx.ptr(op.inputs[0]), ctx.ptr(op.outputs[0])))


@handler("FULLY_CONNECTED", "float32")
def fc_f32(ctx: Context, op) -> Emitted:
    x, w, b, rows, in_size, out_size = _shapes(ctx, op)
    name, wname = ctx.op_name(op), ctx.weight_name(op.inputs[1])
    lo, hi = activation_range_f32(int(getattr(op.options, "fusedActivationFunction", 0) or 0))
    defs = c_array(wname, w.data, f"{out_size} x {in_size} float weights") if ctx.first_use(op.inputs[1]) else ""
    bias = "0"
    if b is not None:
        bias = ctx.weight_name(op.inputs[2])
        if ctx.first_use(op.inputs[2]):
            defs += c_array(bias, b.data, f"{out_size} float bias")
    defs += c_struct("el_fc_f32_t", name, [
        ("rows", rows), ("in_size", in_size), ("out_size", out_size), ("weights", wname), ("bias", bias),
        ("act_min", f"{lo!r}f"), ("act_max", f"{hi!r}f")]).replace("3.4028234663852886e+38f", "FLT_MAX")
    return Emitted.of(defs, call("fc_f32", f"&{name}", ctx.ptr(op.inputs[0]), ctx.ptr(op.outputs[0])))
