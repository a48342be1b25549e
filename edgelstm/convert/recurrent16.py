"""int16 activations for the relu GRUs and SimpleRNNs of a lowered int8 model: a pass over the converted .tflite.

Why: relu leaves a GRU's state unbounded (h in 0..19 on the issue-12 table's BasicMotions model: an int8
step of 0.076). With the update gate z near 1, ``h' = n + z * (h - n)`` is rounded on that coarse grid
every step and sticks, and int8-sized errors anywhere in the recurrent products move whole series to
another class: all-int8, the relu GRU trained on JapaneseVowels loses 8.9 points on its 370 test series
(42 classified differently), the BasicMotions one gains 5 points by flipping 2 of 40. Widening only the
state update (h, h - n, z(h - n), r * n, the pre-activation) was not enough on the real artifact
(docs/int8-recurrent-accuracy.md); with every activation of the GRU in int16 both stay within half a point.
A SimpleRNN has no gate: each int8 rounding of its one recurrence stays in the state (the BasicMotions one:
-7.5 points all-int8); in int16, with its weights rounded data-aware (lower.rounding), it lands on float's
accuracy. tanh GRUs (|h| <= 1) are left all-int8, byte for byte, and so are GRUs with hard_sigmoid gates
(RecurrentLayer.int16_in_int8 says which layers).

What: every int8 activation tensor of the layer (tag ``<layer>.*``, lower.tags, and its state h) becomes
int16, symmetric, with the power-of-two scale 2^ceil(log2 bound) / 32768 that covers its int8 range (the
gates: 2^-15, Q0.15, which TFLite's int16 LOGISTIC requires). The ops producing them become their int16
forms:

    FULLY_CONNECTED  int16x8: int16 input, the same int8 per-channel weights, int64 bias re-scaled to
                     s_in * s_w (the layer input x is read through an int8 -> int16 QUANTIZE)
    ADD, SUB, MUL    int16 (ADD/SUB on TFLite's general int16 path, pot_scale_int16 off); a relu stays
                     fused into its ADD
    LOGISTIC, TANH   int16 (a GRU's reset and update gates; a SimpleRNN's tanh)

A tensor of the layer that something outside it reads (the next layer, the head, PACK of a sequence
output, the model output) is read through an int16 -> int8 QUANTIZE with the tensor's own int8
parameters. State inputs and outputs of a step graph named for h become int16 with one scale, so the
state output is fed back as the input byte for byte.

Step 0 of a sequence graph: the converter folded what the zero state gives (h itself, the recurrent
products, candidate.h = its bias) into int8 constants. Each becomes the int16 constant the step graph
computes from a zero state input, on the scale of the tensor it stands for (the same operand of the same
op one step later): 0, or for a FULLY_CONNECTED over the state its int64 bias requantized as TFLite
Micro does. So the sequence graph equals the step graph stepped from zero, bit for bit (in the
int16 domain a folded int8 value would be 8 bits coarse, and a zero on another scale changes the
rounding of the ADD/SUB that reads it).
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import ConverterCrash
from ..export.quantparams import quantize_multiplier
from ..ir import ModelDesc
from ..lower import cells
from .cell16 import Flatbuffer, edit_layers, is_constant, tensor_name

#: The ops a widened GRU tensor may come from (builtin operator names), besides FULLY_CONNECTED.
ELEMENTWISE16 = ("ADD", "SUB", "MUL", "LOGISTIC", "TANH")


def int16_layer_tags(desc: ModelDesc) -> list[str]:
    """Tag prefixes of every direction kept in int16 (RecurrentLayer.int16_in_int8: a GRU with a relu candidate
    and sigmoid gates, a SimpleRNN): 'l0', 'l1f', 'l1b', ..."""
    out = []
    for idx, layer in enumerate(desc.layers):
        prefix = cells.layer_tag(idx)
        directions = ([(prefix, layer)] if layer.type == "recurrent" else
                      [(prefix + "f", layer.forward), (prefix + "b", layer.backward)]
                      if layer.type == "bidirectional" else [])
        out += [tag for tag, d in directions if d.int16_in_int8]
    return out


def pot_scale16(bound: float) -> float:
    """The int16 scale (zero point 0) of a tensor with |x| <= bound: 2^ceil(log2 bound) / 32768."""
    return 2.0 ** math.ceil(math.log2(max(bound, 2.0 ** -8))) / 32768.0


def int8_bound(t: object) -> float:
    """max |x| an int8 tensor represents: its scale times the farther of -128 and 127 from its zero point."""
    s, zp = float(t.quantization.scale[0]), int(t.quantization.zeroPoint[0])
    return s * max(abs(-128 - zp), abs(127 - zp))


def widen_recurrent_layers(tflite: bytes, desc: ModelDesc) -> bytes:
    """The int8 lowered graph with every relu GRU and SimpleRNN in int16 activations (see the module
    docstring); ``tflite`` unchanged when the model has none."""
    return edit_layers(tflite, int16_layer_tags(desc), _widen_layer)


class _Widening:
    """One layer's edit: which tensors become int16, their scales, and the QUANTIZE copies made so far."""

    def __init__(self, fb: Flatbuffer, wide: set[int]) -> None:
        self.fb, self.wide = fb, wide
        self.int8_like = {i: fb.sg.tensors[i] for i in wide}  # int8 parameters, read before the tensors change
        self.scale = {i: pot_scale16(int8_bound(fb.sg.tensors[i])) for i in wide}
        self.copies8: dict[int, int] = {}   # int16 tensor -> its int8 copy (for readers outside the layer)
        self.copies16: dict[int, int] = {}  # int8 operand of an int16 op -> its int16 copy
        self.ops: list[object] = []

    def int8(self, i: int) -> int:
        if i not in self.copies8:
            self.copies8[i] = self.fb.new_tensor(self.int8_like[i], f"{tensor_name(self.fb.sg, i)}.q8")
            self.ops.append(self.fb.quantize_op(i, self.copies8[i]))
        return self.copies8[i]

    def int16(self, i: int) -> int:
        """Operand i (not a constant) of an int16 op: itself when widened, else an int16 copy by a QUANTIZE."""
        if i < 0 or i in self.wide:
            return i
        if i not in self.copies16:
            sg = self.fb.sg
            t = sg.tensors[i]
            if t.type != self.fb.schema.TensorType.INT8:
                raise ConverterCrash(f"operand {tensor_name(sg, i)} of an int16 recurrent op is not int8; please report "
                                     "this model")
            j = self.fb.new_tensor(t, f"{tensor_name(sg, i)}.q16", pot_scale16(int8_bound(t)))
            self.ops.append(self.fb.quantize_op(i, j))
            self.copies16[i] = j
            self.scale[j] = float(sg.tensors[j].quantization.scale[0])
        return self.copies16[i]

    def constant(self, i: int, stands_for: int, producer: object | None) -> int:
        """The int16 constant for the folded step-0 operand i, which stands for tensor ``stands_for`` (the
        same operand one step later; ``producer``: the op computing that one)."""
        fb, sg = self.fb, self.fb.sg
        t = sg.tensors[i]
        q = np.frombuffer(bytes(bytearray(fb.model.buffers[t.buffer].data)), np.int8).astype(np.int64)
        if (q == int(t.quantization.zeroPoint[0])).all():
            value = np.zeros(q.size, np.int64)  # the zero state, or a product of it
        elif producer is not None and _kind(fb, producer) == fb.schema.BuiltinOperator.FULLY_CONNECTED:
            value = _fc16_of_zeros(fb, producer, self.scale[int(producer.inputs[0])], self.scale[stands_for])
        else:
            raise ConverterCrash(f"constant {tensor_name(sg, i)} in a widened layer's first step is neither zero nor a "
                                 "FULLY_CONNECTED of the zero state; convert with --lstm-cell int8 and please report "
                                 "this model")
        buf = fb.schema.BufferT()
        buf.data = value.astype(np.int16).view(np.uint8)
        fb.model.buffers.append(buf)
        j = fb.new_tensor(t, f"{tensor_name(sg, i)}.q16", self.scale[stands_for])
        sg.tensors[j].buffer = len(fb.model.buffers) - 1
        return j


def _widen_layer(fb: Flatbuffer, lt: str, tagged: dict, state_io: dict[str, tuple[int, int]]) -> None:
    sg, schema = fb.sg, fb.schema
    bops = schema.BuiltinOperator
    elementwise = {getattr(bops, n) for n in ELEMENTWISE16}

    def kind(op: object) -> int:
        return _kind(fb, op)

    wide = {i for i, tg in tagged.items() if tg is not None and tg[0].startswith(f"{lt}.")
            and sg.tensors[i].type == schema.TensorType.INT8 and not is_constant(fb, i)}
    state_outputs = set()
    for n, (i, o) in state_io.items():
        if n.startswith(f"state_{lt}_h"):
            wide |= {i, o}
            state_outputs.add(o)
    w = _Widening(fb, wide)
    # each widened tensor's producer, and the producer of each (tag, step): a step-0 op's twin one step later
    producer = {int(o): op for op in sg.operators for o in op.outputs}
    by_step = {tagged[int(op.outputs[0])]: op for op in sg.operators
               if len(op.outputs) and tagged.get(int(op.outputs[0])) is not None}
    for op in sg.operators:
        ins, outs, k = [int(i) for i in op.inputs], [int(o) for o in op.outputs], kind(op)
        if outs and outs[0] in wide:
            if k == bops.FULLY_CONNECTED:
                _fc16(fb, op, [w.int16(ins[0]), *ins[1:]], w.scale)
            elif k in elementwise:
                new = []
                for i in ins:
                    if i >= 0 and is_constant(fb, i):
                        stands = _counterpart(sg, op, i, tagged, by_step, wide)
                        new.append(w.constant(i, stands, producer.get(stands)))
                    else:
                        new.append(w.int16(i))
                op.inputs = np.array(new, np.int32)
                if k in (bops.ADD, bops.SUB) and op.builtinOptions is not None:
                    op.builtinOptions.potScaleInt16 = False  # the general int16 path (LiteRT = TFLite Micro)
            else:
                raise ConverterCrash(f"op {k} produces GRU tensor {tensor_name(sg, outs[0])}, which the int16 "
                                     "pass does not widen; convert with --lstm-cell int8 and please report this model")
        elif any(i in wide for i in ins):
            op.inputs = np.array([w.int8(i) if i in wide else i for i in ins], np.int32)
        w.ops.append(op)
    outputs = [int(o) for o in sg.outputs]
    sg.outputs = np.array([w.int8(o) if o in wide and o not in state_outputs else o for o in outputs], np.int32)
    for i in wide:
        fb.set_int16(sg.tensors[i], w.scale[i])
    sg.operators = w.ops


def _counterpart(sg: object, op: object, const: int, tagged: dict, by_step: dict, wide: set[int]) -> int:
    """The tensor a folded step-0 constant operand of ``op`` stands for: the operand of the same op one step
    later whose tag is not that of one of op's other operands (the converter may order operands differently
    at step 0, where one of them is a constant)."""
    out = int(op.outputs[0])
    tag, step = tagged.get(out) or (tensor_name(sg, out), -1)
    twin = by_step.get((tag, step + 1))
    others = {tagged[i][0] for i in (int(v) for v in op.inputs) if i >= 0 and i != const and tagged.get(i)}
    cands = [] if twin is None else [i for i in (int(v) for v in twin.inputs) if i >= 0 and i in wide
                                     and (tagged.get(i) is None or tagged[i][0] not in others)]
    if len(cands) != 1:
        raise ConverterCrash(f"constant operand of {tensor_name(sg, out)} with no one widened counterpart one step "
                             "later (a layer over one timestep?); convert with --lstm-cell int8")
    return cands[0]


def _kind(fb: Flatbuffer, op: object) -> int:
    code = fb.model.operatorCodes[op.opcodeIndex]
    return max(int(code.builtinCode), int(code.deprecatedBuiltinCode))


def _bias_real(fb: Flatbuffer, i: int) -> np.ndarray:
    """The real values of an int32 bias tensor."""
    t = fb.sg.tensors[i]
    q = np.frombuffer(bytes(bytearray(fb.model.buffers[t.buffer].data)), np.int32).astype(np.float64)
    return q * np.asarray(t.quantization.scale, np.float64)


def _bias64(real: np.ndarray, s_in: float, s_w: np.ndarray) -> np.ndarray:
    """An int64 bias at s_in * s_w (per output channel), as the int16x8 FULLY_CONNECTED reads it."""
    return np.round(real / (s_in * s_w)).astype(np.int64)


def requantize_s64(acc: np.ndarray, multiplier: int, shift: int) -> np.ndarray:
    """TFLite's 64-bit MultiplyByQuantizedMultiplier (el_requantize_s64 in the C runtime)."""
    reduced = (multiplier + (1 << 15)) >> 16 if multiplier < 0x7FFF0000 else 0x7FFF
    total = 15 - shift
    return (acc.astype(np.int64) * reduced + (1 << (total - 1))) >> total


def _fc16_of_zeros(fb: Flatbuffer, fc: object, s_in: float, s_out: float) -> np.ndarray:
    """What FULLY_CONNECTED ``fc`` (not yet widened, int32 bias) gives in int16x8 for an all-zero input:
    its int64 bias requantized by s_in * s_w / s_out, clamped to int16 (TFLite Micro's arithmetic)."""
    sg = fb.sg
    ins = [int(i) for i in fc.inputs]
    s_w = np.asarray(sg.tensors[ins[1]].quantization.scale, np.float32).astype(np.float64)
    units = int(sg.tensors[ins[1]].shape[0])
    bias = _bias64(_bias_real(fb, ins[2]), s_in, s_w) if len(ins) > 2 and ins[2] >= 0 else np.zeros(units, np.int64)
    s_w = np.broadcast_to(s_w, (units,))
    out = np.empty(units, np.int64)
    for o in range(units):
        m, sh = quantize_multiplier(float(np.float32(s_in)) * float(s_w[o]) / float(np.float32(s_out)))
        out[o] = requantize_s64(bias[o:o + 1], m, sh)[0]
    return np.clip(out, -32768, 32767)


def _fc16(fb: Flatbuffer, op: object, ins: list[int], scale: dict[int, float]) -> None:
    """FULLY_CONNECTED as int16x8 over the int16 input ins[0]: the int32 bias re-scaled to an int64 one at
    s_in * s_w (per output channel); the weights unchanged."""
    sg = fb.sg
    x, w = ins[0], ins[1]
    s_w = np.asarray(sg.tensors[w].quantization.scale, np.float32).astype(np.float64)
    if len(ins) > 2 and ins[2] >= 0:
        bt = sg.tensors[ins[2]]
        s_b = scale[x] * s_w
        buf = fb.schema.BufferT()
        buf.data = _bias64(_bias_real(fb, ins[2]), scale[x], s_w).view(np.uint8)
        fb.model.buffers.append(buf)
        t = fb.schema.TensorT()
        t.shape, t.name = np.array(bt.shape, np.int32), bt.name + b".i64"
        t.type, t.buffer = fb.schema.TensorType.INT64, len(fb.model.buffers) - 1
        q = fb.schema.QuantizationParametersT()
        q.scale, q.zeroPoint, q.quantizedDimension = [float(v) for v in s_b], [0] * len(s_b), 0
        t.quantization = q
        sg.tensors.append(t)
        ins = [x, w, len(sg.tensors) - 1]
    op.inputs = np.array(ins, np.int32)
