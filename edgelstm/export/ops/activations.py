"""LOGISTIC, TANH and RSQRT (LayerNormalization's 1/sqrt(var + eps)) (and a RELU/RELU6 the converter could not fuse into the op before it, such as
after the int16 LSTM cell's QUANTIZE). int8: a 256-entry table filled by running TFLite Micro's
own kernel on every int8 input (exact by construction); float32: expf/tanhf."""
from __future__ import annotations

import numpy as np

from ...errors import UnsupportedCombination
from ..cformat import c_array
from ..graph import one_op_model
from ..kernels import call
from . import Context, Emitted, handler


_TABLES: dict[tuple, np.ndarray] = {}  # (op kind, version, input and output scale / zero point) -> table


def tflm_table(ctx: Context, op) -> np.ndarray:
    """Outputs of TFLite Micro for the op on inputs -128..127. The table depends only on the op
    and the quantization of its input and output: equal ones (an unrolled graph's timesteps often
    share them) run TFLite Micro once."""
    from tflite_micro import runtime

    g = ctx.graph
    x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
    code = g.model.operatorCodes[g.model.subgraphs[0].operators[op.index].opcodeIndex]
    key = (op.kind, int(code.version or 1), np.float32(x.q_scale).tobytes(), x.q_zero_point,
           np.float32(y.q_scale).tobytes(), y.q_zero_point)
    if key not in _TABLES:
        it = runtime.Interpreter.from_bytes(one_op_model(g, op, size=256))
        it.set_input(np.arange(-128, 128, dtype=np.int8).reshape(1, 256), 0)
        it.invoke()
        out = np.asarray(it.get_output(0)).reshape(256).astype(np.int8)
        _TABLES[key] = np.concatenate([out[128:], out[:128]])  # index = (uint8_t)x
    return _TABLES[key].copy()


def _lut(ctx: Context, op, what: str) -> Emitted:
    g = ctx.graph
    x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
    name = ctx.op_name(op)
    defs = c_array(f"{name}_table", tflm_table(ctx, op),
                   f"{what}: int8 (scale {x.q_scale:.6g}, zp {x.q_zero_point}) -> int8 (scale {y.q_scale:.6g}, "
                   f"zp {y.q_zero_point}), indexed by (uint8_t)x")
    return Emitted.of(defs, call("lut_s8", f"{name}_table", str(y.size), ctx.ptr(op.inputs[0]), ctx.ptr(op.outputs[0])))


@handler("LOGISTIC", "int8")
def logistic_s8(ctx: Context, op) -> Emitted:
    return _lut(ctx, op, "sigmoid")


@handler("TANH", "int8")
def tanh_s8(ctx: Context, op) -> Emitted:
    return _lut(ctx, op, "tanh")


@handler("RELU", "int8")
def relu_s8(ctx: Context, op) -> Emitted:
    return _lut(ctx, op, "relu (requantized)")


@handler("RELU6", "int8")
def relu6_s8(ctx: Context, op) -> Emitted:
    return _lut(ctx, op, "relu6 (requantized)")


@handler("RSQRT", "int8")
def rsqrt_s8(ctx: Context, op) -> Emitted:
    return _lut(ctx, op, "rsqrt")


def table_s16_params(input_scale: float) -> tuple[int, int]:
    """(multiplier, shift) of el_sigmoid_s16 / el_tanh_s16 for an int16 LOGISTIC / TANH, as TFLite Micro's
    Prepare derives them: the table reads the input at scale 1/(3 * 4096); an input scale of 2^-12 or 2^-11
    (within 1e-3 of the power, in float32 as TFLite checks) maps there with 3 << left_shift and no shift;
    any other scale with the largest multiplier * 2^shift <= 32767 found by doubling input_scale * 3 * 4096."""
    log2 = float(np.log(np.float32(input_scale)) * (np.float32(1.0) / np.log(np.float32(2.0))))
    rounded = round(log2)
    left_shift = 12 + rounded
    if abs(log2 - rounded) < 1e-3 and left_shift in (0, 1):
        return 3 << left_shift, 0
    multiplier, left_shift = float(np.float32(input_scale)) * 4096.0 * 3.0, 0
    while multiplier <= 32767.0 / 2.0 and left_shift <= 30:
        left_shift += 1
        multiplier *= 2.0
    return int(multiplier), left_shift


def _table_s16(ctx: Context, op, kernel: str) -> Emitted:
    """int16 in (zero point 0), Q0.15 out: TFLite Micro's int16 Logistic / Tanh (table interpolation)."""
    g = ctx.graph
    x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
    if x.q_zero_point or y.q_zero_point or y.q_scale != 2.0 ** -15:
        raise UnsupportedCombination(f"{op.kind} int16 needs zero points 0 and an output scale of 2^-15")
    mult, shift = table_s16_params(x.q_scale)
    return Emitted.of("", call(kernel, ctx.ptr(op.inputs[0]), ctx.ptr(op.outputs[0]), str(y.size), str(mult),
                               str(shift)))


@handler("LOGISTIC", "int16")
def logistic_s16(ctx: Context, op) -> Emitted:
    return _table_s16(ctx, op, "sigmoid_s16")


@handler("TANH", "int16")
def tanh_s16(ctx: Context, op) -> Emitted:
    return _table_s16(ctx, op, "tanh_s16")


@handler("LOGISTIC", "float32")
def logistic_f32(ctx: Context, op) -> Emitted:
    n = ctx.graph.t(op.outputs[0]).size
    return Emitted.of("", call("logistic_f32", str(n), ctx.ptr(op.inputs[0]), ctx.ptr(op.outputs[0])))


@handler("TANH", "float32")
def tanh_f32(ctx: Context, op) -> Emitted:
    n = ctx.graph.t(op.outputs[0]).size
    return Emitted.of("", call("tanh_f32", str(n), ctx.ptr(op.inputs[0]), ctx.ptr(op.outputs[0])))


@handler("RSQRT", "float32")
def rsqrt_f32(ctx: Context, op) -> Emitted:
    n = ctx.graph.t(op.outputs[0]).size
    return Emitted.of("", call("rsqrt_f32", str(n), ctx.ptr(op.inputs[0]), ctx.ptr(op.outputs[0])))
