"""ADD, SUB, MUL: gate sums, GRU state updates, Bidirectional merges; in int16, the cell update
c = f*c + i*g of a lowered int8 LSTM (convert.cell16) and int16 SUB (TFLite Micro's general path)."""
from __future__ import annotations

import numpy as np

from ...errors import UnsupportedCombination
from ..cformat import c_array, c_struct
from ..quantparams import (activation_range, activation_range_f32, activation_range_s8, add_params, mul_s16_params,
                           quantize_multiplier, quantize_multiplier_smaller_than_one)
from ..kernels import call
from . import Context, Emitted, handler

_LEFT_SHIFT_S8 = 20  # TFLite's common grid for int8 ADD/SUB: 2^20 x twice the larger input scale


def _operands(ctx: Context, op) -> tuple[list[str], str, int]:
    """Pointers to both inputs (a constant is expanded to the output size) and the element count."""
    g = ctx.graph
    y = g.t(op.outputs[0])
    ptrs, defs = [], ""
    for k, i in enumerate(op.inputs[:2]):
        t = g.t(i)
        if t.is_const:
            name = f"{ctx.op_name(op)}_in{k + 1}"
            defs += c_array(name, np.broadcast_to(t.data.reshape(-1), (y.size,)) if t.size == 1 else t.data,
                            f"constant operand {k + 1} of {op.kind}")
            ptrs.append(name)
        else:
            if t.size != y.size:
                raise UnsupportedCombination(f"{op.kind} with broadcasting between activations "
                                             f"({t.shape} -> {y.shape}) is not supported by the C export")
            ptrs.append(ctx.ptr(i))
    return ptrs, defs, y.size


def _act(op) -> int:
    return int(getattr(op.options, "fusedActivationFunction", 0) or 0)


def _addsub_s8(ctx: Context, op, fn: str) -> Emitted:
    g = ctx.graph
    a, b, y = g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.outputs[0])
    (pa, pb), defs, n = _operands(ctx, op)
    twice_max = 2.0 * max(a.q_scale, b.q_scale)
    m1, s1 = quantize_multiplier_smaller_than_one(a.q_scale / twice_max)
    m2, s2 = quantize_multiplier_smaller_than_one(b.q_scale / twice_max)
    mo, so = quantize_multiplier_smaller_than_one(twice_max / ((1 << _LEFT_SHIFT_S8) * y.q_scale))
    lo, hi = activation_range_s8(_act(op), y.q_scale, y.q_zero_point)
    name = ctx.op_name(op)
    defs += c_struct("el_addsub_s8_t", name, [
        ("size", n), ("left_shift", _LEFT_SHIFT_S8),
        ("input1_offset", -a.q_zero_point), ("input1_multiplier", m1), ("input1_shift", s1),
        ("input2_offset", -b.q_zero_point), ("input2_multiplier", m2), ("input2_shift", s2),
        ("output_offset", y.q_zero_point), ("output_multiplier", mo), ("output_shift", so),
        ("act_min", lo), ("act_max", hi)])
    return Emitted.of(defs, call(fn, f"&{name}", pa, pb, ctx.ptr(op.outputs[0])))


@handler("ADD", "int8")
def add_s8(ctx: Context, op) -> Emitted:
    return _addsub_s8(ctx, op, "add_s8")


@handler("SUB", "int8")
def sub_s8(ctx: Context, op) -> Emitted:
    return _addsub_s8(ctx, op, "sub_s8")


@handler("MUL", "int8")
def mul_s8(ctx: Context, op) -> Emitted:
    g = ctx.graph
    a, b, y = g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.outputs[0])
    (pa, pb), defs, n = _operands(ctx, op)
    m, s = quantize_multiplier(a.q_scale * b.q_scale / y.q_scale)
    lo, hi = activation_range_s8(_act(op), y.q_scale, y.q_zero_point)
    name = ctx.op_name(op)
    defs += c_struct("el_mul_s8_t", name, [
        ("size", n), ("input1_offset", -a.q_zero_point), ("input2_offset", -b.q_zero_point),
        ("output_offset", y.q_zero_point), ("multiplier", m), ("shift", s), ("act_min", lo), ("act_max", hi)])
    return Emitted.of(defs, call("mul_s8", f"&{name}", pa, pb, ctx.ptr(op.outputs[0])))


def _symmetric_s16(ctx: Context, op) -> None:
    """int16 activations in TFLite are symmetric; TFLite Micro's int16 MUL insists on it, and the
    int16 ADD kernel relies on it (x * 2^15 stays within 31 bits)."""
    g = ctx.graph
    for i in list(op.inputs[:2]) + op.outputs[:1]:
        t = g.t(i)
        if t.dtype != "int16":
            raise UnsupportedCombination(f"{op.kind} mixing int16 with {t.dtype} is not supported by the C export")
        if t.q_zero_point != 0:
            raise UnsupportedCombination(f"int16 {op.kind} with a nonzero zero point ({t.name}: {t.q_zero_point}) "
                                         "is not supported by the C export")


@handler("MUL", "int16")
def mul_s16(ctx: Context, op) -> Emitted:
    g = ctx.graph
    _symmetric_s16(ctx, op)
    a, b, y = g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.outputs[0])
    (pa, pb), defs, n = _operands(ctx, op)
    m, s = mul_s16_params(a.q_scale, b.q_scale, y.q_scale)
    lo, hi = activation_range(_act(op), y.q_scale, y.q_zero_point, "int16")
    name = ctx.op_name(op)
    defs += c_struct("el_mul_s16_t", name, [("size", n), ("multiplier", m), ("shift", s), ("act_min", lo),
                                            ("act_max", hi)],
                     f"int16 MUL: scales {a.q_scale:.6g} x {b.q_scale:.6g} -> {y.q_scale:.6g}")
    return Emitted.of(defs, call("mul_s16", f"&{name}", pa, pb, ctx.ptr(op.outputs[0])))


@handler("ADD", "int16")
def add_s16(ctx: Context, op) -> Emitted:
    return _addsub_s16(ctx, op, "add_s16")


@handler("SUB", "int16")
def sub_s16(ctx: Context, op) -> Emitted:
    return _addsub_s16(ctx, op, "sub_s16")


def _addsub_s16(ctx: Context, op, fn: str) -> Emitted:
    """int16 ADD / SUB (general path, zero points 0), parameters as TFLite Micro's Prepare derives them.
    SUB's match ADD's (ratios in double): some TFLite Micro sources form them in float32, but the pinned
    tflite-micro computes SUB as ADD does (tests/test_int16_kernels.py: float32 ratios differ by one LSB
    on 543 of 589824 pairs at non-power-of-two scales; double ratios on none)."""
    g = ctx.graph
    _symmetric_s16(ctx, op)
    a, b, y = g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.outputs[0])
    (pa, pb), defs, n = _operands(ctx, op)
    p = add_params(a.q_scale, b.q_scale, y.q_scale, "int16")
    lo, hi = activation_range(_act(op), y.q_scale, y.q_zero_point, "int16")
    name = ctx.op_name(op)
    defs += c_struct("el_add_s16_t", name, [
        ("size", n), ("left_shift", p["left_shift"]),
        ("input1_offset", -a.q_zero_point), ("input1_multiplier", p["input1_multiplier"]),
        ("input1_shift", p["input1_shift"]),
        ("input2_offset", -b.q_zero_point), ("input2_multiplier", p["input2_multiplier"]),
        ("input2_shift", p["input2_shift"]),
        ("output_offset", y.q_zero_point), ("output_multiplier", p["output_multiplier"]),
        ("output_shift", p["output_shift"]), ("act_min", lo), ("act_max", hi)],
        f"int16 {op.kind} (general path): scales {a.q_scale:.6g} {'-' if fn == 'sub_s16' else '+'} "
        f"{b.q_scale:.6g} -> {y.q_scale:.6g}")
    return Emitted.of(defs, call(fn, f"&{name}", pa, pb, ctx.ptr(op.outputs[0])))


def _f32(ctx: Context, op, fn: str) -> Emitted:
    (pa, pb), defs, n = _operands(ctx, op)
    calls = [call(fn, str(n), pa, pb, ctx.ptr(op.outputs[0]))]
    if _act(op):  # (hard_sigmoid's ADD 3 carries a RELU6)
        lo, hi = (f"{v!r}f".replace("3.4028234663852886e+38f", "FLT_MAX") for v in activation_range_f32(_act(op)))
        calls.append(call("clamp_f32", str(n), lo, hi, ctx.ptr(op.outputs[0])))
    return Emitted.of(defs, *calls)


@handler("ADD", "float32")
def add_f32(ctx: Context, op) -> Emitted:
    return _f32(ctx, op, "add_f32")


@handler("SUB", "float32")
def sub_f32(ctx: Context, op) -> Emitted:
    return _f32(ctx, op, "sub_f32")


@handler("MUL", "float32")
def mul_f32(ctx: Context, op) -> Emitted:
    return _f32(ctx, op, "mul_f32")
