"""The int16 cell path of a lowered int8 LSTM: a pass over the converted .tflite.

Why: in an all-int8 lowered LSTM the cell state c lives on a grid of 1/255 of its range, and
``c' = f*c + i*g`` is rounded twice per step (MUL then ADD, on two different grids). With a
forget gate near 1 the rounding no longer lets c decay or grow the way the float cell does: it
sticks (a dead band, as in fixed-point IIR filters) and the error compounds over the sequence.
Measured on ../shared/regressions/lstm_int8_unrolled_collapse: 0.977 max error (cosine 0.02)
all-int8; 0.0008 with c and f*c in int16 (numpy simulation), the same order as TFLite Micro's
fused LSTM, which keeps its cell in int16 for this reason.

What: the TF converter cannot mix int8 and int16 activations in one graph (it neither honours a
16-bit FakeQuant beside 8-bit ones nor inserts the requantizations), so the int8 graph is
converted first and then edited. Per LSTM step, with tensors found by their tags (lower.tags):

    f16  = QUANTIZE(f)           int8 1/256 -> int16 2^-15
    fc   = MUL(f16, c_prev)      int16, cell scale s_c, zero point 0
    ig16 = QUANTIZE(ig)          int8 -> int16 s_c
    c    = ADD(fc, ig16)         int16 s_c (pot_scale_int16 off: the general int16 path, the
                                 same arithmetic in LiteRT and TFLite Micro)
    c8   = QUANTIZE(c)           int16 -> int8 with c's calibrated range, for TANH and nothing else

s_c = 2^ceil(log2(max |c| calibrated)) / 32768: a power of two with up to 2x headroom, as the
converter picks for the fused op's cell. State inputs and outputs named for c become int16.
The gates stay int8: a forget gate saturates at 255/256, so a cell holds memory for about
256 steps at most (the fused op's Q0.15 gates: about 32768).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import ConverterCrash
from ..ir import ModelDesc
from ..lower import cells, tags
from ..lower.ranges import Ranges

#: Scale of an int16 sigmoid output in TFLite (Q0.15).
GATE16_SCALE = 2.0 ** -15


def lstm_cell_tags(desc: ModelDesc) -> list[str]:
    """Tag prefixes of every lowered LSTM direction ('l0', 'l1f', 'l1b', ...)."""
    out = []
    for idx, layer in enumerate(desc.layers):
        prefix = cells.layer_tag(idx)
        if getattr(layer, "type", "") == "recurrent" and layer.cell == "lstm":
            out.append(prefix)
        elif getattr(layer, "type", "") == "bidirectional" and layer.cell == "lstm":
            out += [prefix + "f", prefix + "b"]
    return out


def cell_scale(ranges: Ranges, layer_tag: str) -> float:
    """s_c: the power-of-two int16 scale covering the calibrated range of the cell state."""
    lo, hi = ranges[f"{layer_tag}.c"]
    bound = max(abs(lo), abs(hi), 2.0 ** -8)
    return 2.0 ** math.ceil(math.log2(bound)) / 32768.0


@dataclass
class Flatbuffer:
    """The flatbuffer object model of a .tflite and the schema, with the few edits this pass needs."""

    model: object
    schema: object

    @property
    def sg(self):
        return self.model.subgraphs[0]

    def opcode(self, builtin: int, version: int = 1) -> int:
        for k, c in enumerate(self.model.operatorCodes):
            if max(int(c.builtinCode), int(c.deprecatedBuiltinCode)) == builtin:
                return k
        code = self.schema.OperatorCodeT()
        code.builtinCode = builtin
        code.deprecatedBuiltinCode = min(builtin, 127)
        code.version = version
        self.model.operatorCodes.append(code)
        return len(self.model.operatorCodes) - 1

    def set_int16(self, t: object, scale: float) -> None:
        t.type = self.schema.TensorType.INT16
        q = self.schema.QuantizationParametersT()
        q.scale, q.zeroPoint = [float(scale)], [0]
        t.quantization = q

    def new_tensor(self, like: object, name: str, int16_scale: float | None = None) -> int:
        t = self.schema.TensorT()
        t.shape = np.array(like.shape, np.int32)
        t.shapeSignature = None if like.shapeSignature is None else np.array(like.shapeSignature, np.int32)
        t.name = name.encode()
        t.buffer = 0
        if int16_scale is None:
            t.type = like.type
            q = self.schema.QuantizationParametersT()
            q.scale, q.zeroPoint = list(like.quantization.scale), list(like.quantization.zeroPoint)
            t.quantization = q
        else:
            self.set_int16(t, int16_scale)
        self.sg.tensors.append(t)
        return len(self.sg.tensors) - 1

    def quantize_op(self, src: int, dst: int) -> object:
        op = self.schema.OperatorT()
        op.opcodeIndex = self.opcode(self.schema.BuiltinOperator.QUANTIZE)
        op.inputs = np.array([src], np.int32)
        op.outputs = np.array([dst], np.int32)
        op.builtinOptionsType = self.schema.BuiltinOptions.QuantizeOptions
        op.builtinOptions = self.schema.QuantizeOptionsT()
        return op


def edit_layers(tflite: bytes, layer_tags: list[str], edit: Callable[..., None]) -> bytes:
    """``tflite`` with ``edit(fb, layer_tag, tagged, state_io)`` applied for each layer tag (unchanged when there
    are none): ``tagged`` maps tensor index -> (tag, step) or None (lower.tags); ``state_io`` maps a step
    graph's state input name -> (input, output) tensor indices. A step graph lists its state outputs in the
    order of its state inputs (input 0 and output 0 are the model's own; see runners.run_stateful): a new state
    leaves under the output's name, not its tag."""
    if not layer_tags:
        return tflite
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils as fbu

    fb = Flatbuffer(fbu.read_model_from_bytearray(bytearray(tflite)), schema)
    sg = fb.sg
    names = [(t.name or b"").decode(errors="replace") for t in sg.tensors]
    tagged = {i: tags.parse_tensor_name(n) for i, n in enumerate(names)}
    state_io = {names[int(i)]: (int(i), int(o)) for i, o in zip(list(sg.inputs)[1:], list(sg.outputs)[1:])}
    for lt in layer_tags:
        edit(fb, lt, tagged, state_io)
    return bytes(fbu.convert_object_to_bytearray(fb.model))


def widen_lstm_cells(tflite: bytes, desc: ModelDesc, ranges: Ranges) -> bytes:
    """The int8 lowered graph with every LSTM cell path in int16 (see the module docstring)."""
    return edit_layers(tflite, lstm_cell_tags(desc),
                       lambda fb, lt, tagged, io: _widen_layer(fb, lt, cell_scale(ranges, lt), tagged, io))


def tensor_name(sg: object, i: int) -> str:
    return (sg.tensors[i].name or b"").decode(errors="replace")


def is_constant(fb: Flatbuffer, i: int) -> bool:
    buf = fb.model.buffers[fb.sg.tensors[i].buffer].data if fb.sg.tensors[i].buffer else None
    return buf is not None and len(buf) > 0


def _zero_constant_to_int16(fb: Flatbuffer, i: int, scale: float) -> None:
    """A constant that must be the real value 0 (the folded f * zero-state) -> int16 zeros at ``scale``."""
    t = fb.sg.tensors[i]
    data = np.frombuffer(bytes(bytearray(fb.model.buffers[t.buffer].data)), np.int8)
    if not (data.astype(np.int32) == int(t.quantization.zeroPoint[0])).all():
        raise ConverterCrash(f"constant {tensor_name(fb.sg, i)} feeding an LSTM cell is not zero; please report this model")
    buf = fb.schema.BufferT()
    buf.data = np.zeros(data.size, np.int16).view(np.uint8)
    fb.model.buffers.append(buf)
    t.buffer = len(fb.model.buffers) - 1
    fb.set_int16(t, scale)


def _widen_layer(fb: Flatbuffer, lt: str, s_c: float, tagged: dict, state_io: dict[str, tuple[int, int]]) -> None:
    sg, schema = fb.sg, fb.schema
    bops = schema.BuiltinOperator

    def kind(op: object) -> int:
        code = fb.model.operatorCodes[op.opcodeIndex]
        return max(int(code.builtinCode), int(code.deprecatedBuiltinCode))

    def is_tag(i: int, what: str) -> bool:
        return i >= 0 and tagged.get(i) is not None and tagged[i][0] == f"{lt}.{what}"

    cells16 = {i for i in range(len(sg.tensors)) if is_tag(i, "c")}
    for n, (i, o) in state_io.items():
        if n.startswith(f"state_{lt}_c"):
            cells16 |= {i, o}
    int8_params = {i: sg.tensors[i] for i in cells16}  # read before the cells become int16 (end of pass)
    c8_copies: dict[int, int] = {}
    new_ops: list[object] = []
    for op in sg.operators:
        ins, outs, k = [int(i) for i in op.inputs], [int(o) for o in op.outputs], kind(op)
        if k == bops.MUL and is_tag(outs[0], "fc"):
            f = next((i for i in ins if is_tag(i, "forget.act")), None)
            c = next((i for i in ins if i != f), None)
            if f is None or c not in cells16:
                raise ConverterCrash(f"unexpected graph around {lt}.fc (inputs {ins}); please report this model")
            f16 = fb.new_tensor(sg.tensors[f], f"{tensor_name(sg, f)}.q16", GATE16_SCALE)
            new_ops.append(fb.quantize_op(f, f16))
            op.inputs = np.array([f16 if i == f else i for i in ins], np.int32)
            fb.set_int16(sg.tensors[outs[0]], s_c)
        elif k == bops.ADD and outs[0] in cells16:
            ig = next((i for i in ins if is_tag(i, "ig")), None)
            fc = next((i for i in ins if i != ig), None)
            if ig is None or fc is None:
                raise ConverterCrash(f"unexpected graph around {lt}.c (inputs {ins}); please report this model")
            if is_constant(fb, fc):
                _zero_constant_to_int16(fb, fc, s_c)  # step 0: f * (zero state) folded by the converter
            elif not is_tag(fc, "fc"):
                raise ConverterCrash(f"unexpected graph around {lt}.c (inputs {ins}); please report this model")
            ig16 = fb.new_tensor(sg.tensors[ig], f"{tensor_name(sg, ig)}.q16", s_c)
            new_ops.append(fb.quantize_op(ig, ig16))
            op.inputs = np.array([ig16 if i == ig else i for i in ins], np.int32)
            op.builtinOptions.potScaleInt16 = False
        else:
            uses = [i for i in ins if i in cells16]
            if uses:  # TANH(c) and anything else that reads the cell in int8
                for c in uses:
                    if c not in c8_copies:
                        c8_copies[c] = fb.new_tensor(int8_params[c], f"{tensor_name(sg, c)}.q8")
                        new_ops.append(fb.quantize_op(c, c8_copies[c]))
                op.inputs = np.array([c8_copies.get(i, i) for i in ins], np.int32)
        new_ops.append(op)
    for i in cells16:
        fb.set_int16(sg.tensors[i], s_c)
    sg.operators = new_ops
