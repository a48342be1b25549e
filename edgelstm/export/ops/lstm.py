"""UNIDIRECTIONAL_SEQUENCE_LSTM: the fused LSTM op, run one timestep at a time by lstm_step_s8
with h and c kept in the model state (TFLite's variable tensors)."""
from __future__ import annotations

from ...errors import UnsupportedCombination
from ..kernels import KernelCall
from . import Context, Emitted, handler

_HIDDEN, _CELL = 18, 19  # input slots of the variable tensors


def lstm_s8_scratch_words(input_size: int, units: int) -> int:
    """EL_LSTM_S8_SCRATCH_WORDS (el_lstm_s8.h): the DSP path's int16 pairs of x and h (PAD4 each, 2 bytes
    per value) or the MVE path's int8 copies padded to 16, whichever is larger; the plain C path's int8
    copies padded to 4 fit in either."""
    pad4, pad16 = (lambda n: -(-n // 4) * 4), (lambda n: -(-n // 16) * 16)
    return max((pad4(input_size) + pad4(units)) // 2, (pad16(input_size) + pad16(units)) // 4)


@handler("UNIDIRECTIONAL_SEQUENCE_LSTM", "int8")
def lstm_s8(ctx: Context, op) -> Emitted:
    from ..lstm_s8 import lstm_s8_from_tflite

    g = ctx.graph
    try:
        p = lstm_s8_from_tflite(g.model, 0, op.index)
    except ValueError as e:
        raise UnsupportedCombination(f"int8 LSTM op {op.index}: {e}") from e
    x = g.t(op.inputs[0])
    steps, units, in_size = x.shape[-2], p.units, p.input_size
    name = ctx.op_name(op)
    hid, cell = g.t(op.inputs[_HIDDEN]), g.t(op.inputs[_CELL])
    h = ctx.state(f"{name}_h", "int8_t", units, f"hidden state, int8 (scale {hid.q_scale:.6g}, zp {hid.q_zero_point})",
                  init=hid.q_zero_point)
    c = ctx.state(f"{name}_c", "int16_t", units, f"cell state, int16 (scale {cell.q_scale:.6g})")
    # EL_LSTM_S8_SCRATCH_WORDS: x and the old h staged, the most any path needs (int32 words)
    words = lstm_s8_scratch_words(in_size, units)
    scratch = ctx.scratch("int32_t", words)
    return _time_loop(ctx, op, "lstm_step_s8", name, (h, c, scratch), steps, in_size, units, p.c_definitions(name),
                      4 * words, note={"layer": name, "input_size": in_size, "units": units, "mode": p.kernel_mode()})


def _time_loop(ctx: Context, op, kernel: str, name: str, state: tuple[str, str, str], steps: int, in_size: int,
               units: int, definitions: str, scratch_bytes: int, note: dict | None = None) -> Emitted:
    """The op's timesteps: the step kernel, then h copied into the op's output sequence."""
    h, c, scratch = state
    x = ctx.ptr(op.inputs[0]) + (f" + t * {in_size}" if steps > 1 else "")
    step = KernelCall(kernel, (f"&{name}", x, h, c, scratch), scratch_bytes, note or {})
    copy = f"memcpy({ctx.ptr(op.outputs[0])}{f' + t * {units}' if steps > 1 else ''}, {h}, sizeof({h}));"
    if steps == 1:
        return Emitted(definitions, [str(step), copy], [step])
    return Emitted(definitions, [f"for (int32_t t = 0; t < {steps}; ++t) {{", f"    {step}", f"    {copy}", "}"],
                   [step])


_GATES = ("input", "forget", "cell", "output")
_ACT_TANH, _ACT_SIGMOID = 4, 6  # fused activation codes of the TFLite schema


@handler("UNIDIRECTIONAL_SEQUENCE_LSTM", "float32")
def lstm_f32(ctx: Context, op) -> Emitted:
    from ..cformat import c_array, c_struct

    g = ctx.graph
    slots = {"w_x": (1, 2, 3, 4), "w_h": (5, 6, 7, 8), "bias": (12, 13, 14, 15)}
    absent = [k for k in (9, 10, 11, 16, 17, 20, 21, 22, 23) if k < len(op.inputs) and op.inputs[k] >= 0]
    if absent or any(op.inputs[k] < 0 for k in slots["w_x"] + slots["w_h"]):
        raise UnsupportedCombination("float LSTM with peephole, projection, layer norm or CIFG is not supported")
    act = int(op.options.fusedActivationFunction)
    if act not in (_ACT_TANH, _ACT_SIGMOID):
        raise UnsupportedCombination(f"LSTM cell activation {act} is not supported (tanh or sigmoid)")
    x, w0 = g.t(op.inputs[0]), g.t(op.inputs[1])
    units, in_size = w0.shape
    steps = x.shape[-2]
    name = ctx.op_name(op)
    defs, fields = "", []
    for k, gate in enumerate(_GATES):
        names = []
        for part, idx in slots.items():
            t = g.t(op.inputs[idx[k]]) if op.inputs[idx[k]] >= 0 else None
            if t is None:
                names.append("0")
                continue
            arr = f"{name}_{gate}_{part}"
            defs += c_array(arr, t.data, f"{gate} gate {part.replace('_', ' ')} {list(t.shape)}")
            names.append(arr)
        fields.append((f"{gate}_gate", f"{{ .w_x = {names[0]}, .w_h = {names[1]}, .bias = {names[2]} }}"))
    clip = float(op.options.cellClip or 0.0)
    defs += c_struct("el_lstm_f32_t", name, [("input_size", in_size), ("units", units), *fields,
                                             ("cell_act_sigmoid", int(act == _ACT_SIGMOID)), ("cell_clip", f"{clip!r}f")])
    h = ctx.state(f"{name}_h", "float", units, "hidden state")
    c = ctx.state(f"{name}_c", "float", units, "cell state")
    scratch = ctx.scratch("float", 4 * units)
    return _time_loop(ctx, op, "lstm_step_f32", name, (h, c, scratch), steps, in_size, units, defs, 16 * units)
