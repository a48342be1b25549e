"""QUANTIZE between integer types: the requantizations around the int16 cell of a lowered int8
LSTM (convert.cell16): int8 -> int16 (forget gate to Q0.15, i*g to the cell grid) and
int16 -> int8 (the cell to the grid TANH reads); and int8 -> int8, which the converter inserts
where a tensor must change grid (a Bidirectional layer's h before both directions are joined)."""
from __future__ import annotations

from ...errors import UnsupportedCombination
from ..quantparams import requantize_params
from ..cformat import c_struct
from ..kernels import call
from . import Context, Emitted, handler

_KERNELS = {("int8", "int16"): "requantize_s8_s16", ("int16", "int8"): "requantize_s16_s8",
            ("int8", "int8"): "requantize_s8_s8"}


def _requantize(ctx: Context, op) -> Emitted:
    g = ctx.graph
    x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
    fn = _KERNELS.get((x.dtype, y.dtype))
    if fn is None:
        raise UnsupportedCombination(f"the C export has no kernel for QUANTIZE {x.dtype} -> {y.dtype}")
    if x.scale.size != 1 or y.scale.size != 1:
        raise UnsupportedCombination("QUANTIZE with per-channel quantization is not supported by the C export")
    p = requantize_params(x.q_scale, x.q_zero_point, y.q_scale, y.q_zero_point)
    name = ctx.op_name(op)
    defs = c_struct("el_requantize_t", name, [
        ("size", y.size), ("input_offset", p["input_offset"]), ("output_offset", p["output_offset"]),
        ("multiplier", p["multiplier"]), ("shift", p["shift"])],
        f"QUANTIZE {x.dtype} (scale {x.q_scale:.6g}, zp {x.q_zero_point}) -> {y.dtype} "
        f"(scale {y.q_scale:.6g}, zp {y.q_zero_point})")
    return Emitted.of(defs, call(fn, f"&{name}", ctx.ptr(op.inputs[0]), ctx.ptr(op.outputs[0])))


@handler("QUANTIZE", "int16")
def quantize_to_s16(ctx: Context, op) -> Emitted:
    return _requantize(ctx, op)


@handler("QUANTIZE", "int8")
def quantize_to_s8(ctx: Context, op) -> Emitted:
    return _requantize(ctx, op)
