"""UNIDIRECTIONAL_SEQUENCE_LSTM: the fused LSTM op, run one timestep at a time by lstm_step_s8
with h and c kept in the model state (TFLite's variable tensors)."""
from __future__ import annotations

from . import Context, Emitted, handler

_HIDDEN, _CELL = 18, 19  # input slots of the variable tensors


@handler("UNIDIRECTIONAL_SEQUENCE_LSTM", "int8")
def lstm_s8(ctx: Context, op) -> Emitted:
    from ..lstm_s8 import lstm_s8_from_tflite

    g = ctx.graph
    p = lstm_s8_from_tflite(g.model, 0, op.index)
    x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
    steps, units, in_size = x.shape[-2], p.units, p.input_size
    name = ctx.op_name(op)
    hid, cell = g.t(op.inputs[_HIDDEN]), g.t(op.inputs[_CELL])
    h = ctx.state(f"{name}_h", "int8_t", units, f"hidden state, int8 (scale {hid.q_scale:.6g}, zp {hid.q_zero_point})",
                  init=hid.q_zero_point)
    c = ctx.state(f"{name}_c", "int16_t", units, f"cell state, int16 (scale {cell.q_scale:.6g})")
    scratch = ctx.scratch("int16_t", 4 * units)
    step = f"lstm_step_s8(&{name}, {ctx.ptr(op.inputs[0])}{{x}}, {h}, {c}, {scratch});"
    copy = f"memcpy({ctx.ptr(op.outputs[0])}{{y}}, {h}, {units});"
    if steps == 1:
        code = [step.format(x=""), copy.format(y="")]
    else:
        code = [f"for (int32_t t = 0; t < {steps}; ++t) {{",
                "    " + step.format(x=f" + t * {in_size}"),
                "    " + copy.format(y=f" + t * {units}"), "}"]
    return Emitted(p.c_definitions(name), code)
