"""Parameters of an int8 UNIDIRECTIONAL_SEQUENCE_LSTM op for the C kernel ``lstm_step_s8``.

``lstm_s8_from_tflite`` reads one op of a TFLite model (a ``flatbuffer_utils`` ModelT) and
precomputes what TensorFlow Lite Micro's Prepare computes for the int8x8_16 LSTM, so that the
C struct ``el_lstm_s8_t`` (firmware_export/runtime/include/el_lstm_s8.h) only holds integers:

* per gate, two fully connected layers (input x and hidden h) whose outputs are Q3.12
  (scale 2^-12): multiplier/shift of s_in * s_w / 2^-12 (QuantizeMultiplier of the double),
  and the int32 biases with the input zero points folded in (bias - z * row sums), which gives
  the same int32 sums as TFLite Micro's (x - z) * w + bias;
* the cell update products f * c and i * g (gate outputs are Q0.15, the cell scale 2^p);
* the hidden product o * tanh(c) to the int8 hidden scale and zero point;
* the tanh input rescale from the cell scale power p, and the quantized cell clip.

The op's ``intermediates`` tensors are not read: TFLite Micro's int8 kernel uses the fixed
2^-12 and 2^-15 gate scales, not the calibrated intermediate scales.

``LstmS8.c_definitions`` writes them in the fused kernel's layout (el_lstm_s8.h): the four gate
rows of each unit interleaved per group of 4 columns (``weight_layout``), the 8 biases of each unit
together (``bias_layout``, doubled for the kernel's doubled accumulators), the requantizations in
the form of ``el_lstm_s8_rq_t`` and the requantization mode (``kernel_mode``). ``trace`` and
``reference_states`` are the integer semantics in numpy (what TFLite Micro computes), independent
of that layout.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .cformat import c_array
from .quantparams import quantize_multiplier

#: UNIDIRECTIONAL_SEQUENCE_LSTM input slots (TFLite's lstm_shared.h numbering)
_X = 0
_W_X = {"input": 1, "forget": 2, "cell": 3, "output": 4}
_W_H = {"input": 5, "forget": 6, "cell": 7, "output": 8}
_PEEPHOLE = (9, 10, 11)
_BIAS = {"input": 12, "forget": 13, "cell": 14, "output": 15}
_PROJECTION = (16, 17)
_HIDDEN, _CELL = 18, 19
_LAYER_NORM = (20, 21, 22, 23)

GATES = ("input", "forget", "cell", "output")

#: TFLite schema codes
_TFL_INT8, _TFL_INT16, _TFL_INT32, _TFL_FLOAT32 = 9, 7, 2, 0
_ACT_TANH = 4  # the one LSTM activation TFLite Micro computes (see lstm_s8_from_tflite)

WEIGHT_TAIL = 48  # EL_LSTM_S8_WEIGHT_TAIL: zero bytes after each weight array (the MVE loop reads them)

GATE_SCALE_IN = 2.0 ** -12  # Q3.12 gate pre-activations
GATE_SCALE_OUT = 2.0 ** -15  # Q0.15 gate outputs


@dataclass
class GateS8:
    """One gate's constants: weights (units, input_size) and (units, units), folded biases and
    the two Q3.12 requantization multipliers."""

    name: str
    w_x: np.ndarray  # int8 (units, input_size)
    w_h: np.ndarray  # int8 (units, units)
    bias_x: np.ndarray  # int32 (units,): bias - z_x * sum(w_x row)
    bias_h: np.ndarray  # int32 (units,): -z_h * sum(w_h row)
    mult_x: int
    shift_x: int
    mult_h: int
    shift_h: int
    w_x_scale: float
    w_h_scale: float
    bias_scale: float


@dataclass
class LstmS8:
    """Everything ``el_lstm_s8_t`` holds for one layer, plus the source scales for reference."""

    input_size: int
    units: int
    input_scale: float
    input_zero_point: int
    hidden_scale: float
    hidden_zero_point: int
    cell_scale: float
    cell_scale_power: int  # cell scale = 2^cell_scale_power
    cell_clip: float  # the op's float cell_clip (0 = none)
    cell_clip_q: int  # in cell units; -1 = no clipping
    cell_gate_activation: str  # "tanh" (the only one TFLite Micro runs from a .tflite)
    gates: dict[str, GateS8] = field(default_factory=dict)
    forget_mult: int = 0
    forget_shift: int = 0
    input_mult: int = 0
    input_shift: int = 0
    tanh_mult: int = 0
    tanh_shift: int = 0
    hidden_mult: int = 0
    hidden_shift: int = 0
    time_steps: int = 1

    # ---- C source ----------------------------------------------------------------------
    def weight_layout(self, part: str) -> np.ndarray:
        """int8 weights of ``part`` ("x" or "h") in the kernel's layout (el_lstm_s8.h): per unit,
        per group of 4 columns, 4 bytes of each of the input, forget, cell and output rows; columns
        zero padded to a multiple of 4; then EL_LSTM_S8_WEIGHT_TAIL zero bytes."""
        w = np.stack([getattr(self.gates[g], f"w_{part}") for g in GATES])  # (4, units, n)
        n = w.shape[2]
        n4 = -(-n // 4) * 4
        w = np.pad(w, ((0, 0), (0, 0), (0, n4 - n))).reshape(4, self.units, n4 // 4, 4)
        flat = w.transpose(1, 2, 0, 3).reshape(-1)
        return np.concatenate([flat, np.zeros(WEIGHT_TAIL, np.int8)]).astype(np.int8)

    def accumulator_bound(self) -> int:
        """Largest |bias + W v| << lshift over every gate row and part, for any int8 v (lshift: the
        left shift of the part's requantization, 0 for right shifts)."""
        bound = 0
        for g in self.gates.values():
            for w, b, shift in ((g.w_x, g.bias_x, g.shift_x), (g.w_h, g.bias_h, g.shift_h)):
                rows = np.abs(b.astype(np.int64)) + 128 * np.abs(w.astype(np.int64)).sum(axis=1)
                bound = max(bound, int(rows.max(initial=0)) << max(shift, 0))
        return bound

    def requant_shifts(self) -> list[int]:
        """TFLite shifts of the 11 requantizations: 8 gate parts, then f * c, i * g, o * tanh(c)."""
        return ([g.shift_x for g in self.gates.values()] + [g.shift_h for g in self.gates.values()]
                + [self.forget_shift, self.input_shift, self.hidden_shift])

    def kernel_mode(self) -> str:
        """el_lstm_s8_t.mode (el_lstm_s8.h): "fast" when every requantization shifts right (by 1 to
        31) and every accumulator stays below 2^30 for any int8 input; "zero" when besides some
        shifts are 0, "any" when some gate requantizations shift left (the accumulators times
        2^shift below 2^30); "exact" otherwise (the products f c, i g, o tanh(c) shifting left,
        shifts below -31, huge biases)."""
        shifts = self.requant_shifts()
        if self.accumulator_bound() >= (1 << 30) or any(s > 0 for s in shifts[8:]) or min(shifts) < -31:
            return "exact"
        if max(shifts) < 0:
            return "fast"
        return "zero" if max(shifts) == 0 else "any"

    def bias_layout(self) -> np.ndarray:
        """int32 (units + 3) x 8: per unit the x parts of i, f, g, o then the h parts, doubled unless the
        mode is "exact"; then 3 units of 0 (EL_LSTM_S8_BIAS_TAIL: the MVE path reads 4 units at a time)."""
        b = np.stack([self.gates[g].bias_x for g in GATES] + [self.gates[g].bias_h for g in GATES], axis=1)
        b = b.astype(np.int64) * (1 if self.kernel_mode() == "exact" else 2)
        return np.concatenate([b, np.zeros((3, 8), np.int64)]).astype(np.int32)

    def c_definitions(self, prefix: str) -> str:
        """C source defining the weight and bias arrays (``static const``, ``<prefix>_w_x``, ``<prefix>_w_h``,
        ``<prefix>_bias``) and ``static const el_lstm_s8_t <prefix>``; the including file includes
        el_lstm_s8.h and defines EL_MODEL_ALIGN(n) and EL_MODEL_SECTION (a generated model maps them to
        <P>_ALIGN and <P>_WEIGHTS_SECTION)."""
        mode = self.kernel_mode()
        scales = ", ".join(f"{g} {self.gates[g].w_x_scale:.9g}/{self.gates[g].w_h_scale:.9g}" for g in GATES)
        out = [f"/* LSTM layer {prefix}: int8, {self.input_size} inputs, {self.units} units.\n"
               f" * x: scale {self.input_scale:.9g}, zero point {self.input_zero_point}; "
               f"h: scale {self.hidden_scale:.9g}, zero point {self.hidden_zero_point};\n"
               f" * c: int16, scale 2^{self.cell_scale_power}; gate inputs Q3.12, gate outputs Q0.15;\n"
               f" * weight scales (x/h): {scales}. */\n"]
        for part, n in (("x", self.input_size), ("h", self.units)):
            what = "input" if part == "x" else "recurrent"
            out.append(c_array(f"{prefix}_w_{part}", self.weight_layout(part),
                               f"{what} weights: {self.units} units x (4 gates i, f, g, o x {n}), interleaved per "
                               f"4 columns (el_lstm_s8.h)", dtype="int8", align=16))
        out.append(c_array(f"{prefix}_bias", self.bias_layout(),
                           f"per unit: x biases of i, f, g, o (bias - x zero point {self.input_zero_point} x row sums), "
                           f"then h biases (- h zero point {self.hidden_zero_point} x row sums)"
                           + ("" if mode == "exact" else ", doubled") + "; 3 units of padding",
                           dtype="int32", align=8))
        out.append("\n")
        lines = [f"static const el_lstm_s8_t {prefix} EL_MODEL_SECTION = {{",
                 f"    .input_size = {self.input_size},",
                 f"    .units = {self.units},",
                 f"    .w_x = {prefix}_w_x,",
                 f"    .w_h = {prefix}_w_h,",
                 f"    .bias = {prefix}_bias,",
                 f"    .mode = EL_LSTM_S8_MODE_{mode.upper()}, /* |bias + W v| << lshift <= {self.accumulator_bound()}"
                 f"; shifts {min(self.requant_shifts())} .. {max(self.requant_shifts())} */",
                 "    .gate_rq = { /* to Q3.12: x parts of i, f, g, o, then h parts */"]
        for part in ("x", "h"):
            for g in GATES:
                gp = self.gates[g]
                m, sh = (gp.mult_x, gp.shift_x) if part == "x" else (gp.mult_h, gp.shift_h)
                lines.append(f"        {_rq(m, sh)}, /* {g} {part} */")
        lines += ["    },",
                  f"    .forget_rq = {_rq(self.forget_mult, self.forget_shift)}, /* f * c -> c */",
                  f"    .input_rq = {_rq(self.input_mult, self.input_shift)}, /* i * g -> c */",
                  f"    .hidden_rq = {_rq(self.hidden_mult, self.hidden_shift)}, /* o * tanh(c) -> h */",
                  f"    .cell_clip = {self.cell_clip_q}, /* {'no clipping' if self.cell_clip_q < 0 else f'cell_clip {self.cell_clip:g}'} */",
                  f"    .cell_scale_power = {self.cell_scale_power},",
                  f"    .tanh_mult = {self.tanh_mult}, .tanh_shift = {self.tanh_shift},",
                  f"    .hidden_zero_point = {self.hidden_zero_point},",
                  "};\n"]
        out.append("\n".join(lines))
        return "".join(out)

    # ---- integer reference (numpy), the same arithmetic as the C kernel -----------------
    def reference(self, x: np.ndarray) -> np.ndarray:
        """Hidden states (T, units) int8 for one int8 sequence (T, input_size), from h = z_h, c = 0."""
        return self.reference_states(x)[0]

    def reference_states(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(hidden states (T, units) int8, cell states (T, units) int16) for one int8 sequence."""
        tr = self.trace(x)
        return tr["h"].astype(np.int8), tr["c"].astype(np.int16)

    def trace(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Every integer the kernel computes for one int8 sequence (T, input_size), per step (T, units):
        ``<gate>.pre`` (Q3.12), ``<gate>.act`` (Q0.15), ``fc`` and ``ig`` and ``c`` (cell scale 2^p),
        ``tc`` (tanh(c), Q0.15) and ``h`` (int8 with the hidden scale and zero point)."""
        h = np.full(self.units, self.hidden_zero_point, np.int64)
        c = np.zeros(self.units, np.int64)
        out: dict[str, list[np.ndarray]] = {}

        def rec(key: str, v: np.ndarray) -> np.ndarray:
            out.setdefault(key, []).append(v.copy())
            return v

        for xt in np.asarray(x, np.int64).reshape(-1, self.input_size):
            act = {}
            for name in GATES:
                pre = rec(f"{name}.pre", self._pre(name, xt, h))
                tanh_gate = name == "cell" and self.cell_gate_activation == "tanh"
                act[name] = rec(f"{name}.act", tanh_s16(pre, 3, 0) if tanh_gate else sigmoid_s16(pre, 3, 0))
            fc = rec("fc", np.clip(_requantize(act["forget"] * c, self.forget_mult, self.forget_shift), -32768, 32767))
            ig = rec("ig", np.clip(_requantize(act["input"] * act["cell"], self.input_mult, self.input_shift),
                                   -32768, 32767))
            c = np.clip(fc + ig, -32768, 32767)
            if self.cell_clip_q >= 0:
                c = np.clip(c, -self.cell_clip_q, self.cell_clip_q)
            rec("c", c)
            t = rec("tc", tanh_s16(c, self.tanh_mult, self.tanh_shift))
            h = rec("h", np.clip(self.hidden_zero_point + _requantize(t * act["output"], self.hidden_mult,
                                                                       self.hidden_shift), -128, 127))
        return {k: np.asarray(v) for k, v in out.items()}

    def _pre(self, name: str, x: np.ndarray, h: np.ndarray) -> np.ndarray:
        """A gate's pre-activation, Q3.12: the x and h parts requantized separately, then added (saturating)."""
        g = self.gates[name]
        ax = g.w_x.astype(np.int64) @ x + g.bias_x
        ah = g.w_h.astype(np.int64) @ h + g.bias_h
        return np.clip(np.clip(_requantize(ax, g.mult_x, g.shift_x), -32768, 32767)
                       + np.clip(_requantize(ah, g.mult_h, g.shift_h), -32768, 32767), -32768, 32767)


# ---- reading the op ---------------------------------------------------------------------
def lstm_s8_from_tflite(model: Any, subgraph_index: int, op_index: int) -> LstmS8:
    """The C kernel's parameters of op ``op_index`` of subgraph ``subgraph_index`` of ``model``
    (a ``tensorflow.lite.tools.flatbuffer_utils`` ModelT). ValueError for what the kernel (or
    TFLite Micro) does not support."""
    try:
        sg = model.subgraphs[subgraph_index]
        op = sg.operators[op_index]
    except (IndexError, TypeError) as e:
        raise ValueError(f"no op {op_index} in subgraph {subgraph_index} of the model") from e
    kind = _op_kind(model, op)
    where = f"op {op_index} ({kind}) of subgraph {subgraph_index}"
    if kind != "UNIDIRECTIONAL_SEQUENCE_LSTM":
        raise ValueError(f"{where} is not an UNIDIRECTIONAL_SEQUENCE_LSTM")
    ins = [int(i) for i in op.inputs]
    if len(ins) != 24:
        raise ValueError(f"{where} has {len(ins)} inputs; the int8 LSTM kernel needs the 24-input form")
    present = lambda slot: ins[slot] >= 0  # noqa: E731
    if any(present(s) for s in _PEEPHOLE):
        raise ValueError(f"{where} has peephole weights (inputs 9-11); the int8 LSTM kernel has no peephole")
    if any(present(s) for s in _PROJECTION):
        raise ValueError(f"{where} has a projection (inputs 16-17); the int8 LSTM kernel has no projection")
    if any(present(s) for s in _LAYER_NORM):
        raise ValueError(f"{where} has layer norm coefficients (inputs 20-23); the int8 LSTM kernel has no layer norm")
    if not present(_W_X["input"]) or not present(_W_H["input"]) or not present(_BIAS["input"]):
        raise ValueError(f"{where} is a CIFG LSTM (no input gate); the int8 LSTM kernel needs all four gates")
    for gate in GATES:
        for slot in (_W_X[gate], _W_H[gate], _BIAS[gate]):
            if not present(slot):
                raise ValueError(f"{where}: input {slot} ({gate} gate) is missing")
    if not present(_HIDDEN) or not present(_CELL):
        raise ValueError(f"{where}: the hidden (18) or cell (19) state tensor is missing")

    opts = op.builtinOptions
    act = int(getattr(opts, "fusedActivationFunction", _ACT_TANH))
    if act != _ACT_TANH:
        # TFLite's ActivationFunctionType has no sigmoid; TFLite Micro runs code 6 (its C enum's
        # sigmoid) as no activation at all (measured), so only tanh has one meaning.
        raise ValueError(f"{where}: cell activation code {act} is not supported (the int8 LSTM kernel computes "
                         f"TFLite Micro's tanh, code {_ACT_TANH}, only)")
    if bool(getattr(opts, "timeMajor", False)):
        xs = _shape(sg.tensors[ins[_X]])
        if len(xs) == 3 and xs[1] != 1:
            raise ValueError(f"{where} is time-major with batch {xs[1]}; the kernel runs batch 1")
    cell_clip = float(getattr(opts, "cellClip", 0.0) or 0.0)
    if cell_clip < 0:
        raise ValueError(f"{where}: negative cell_clip {cell_clip}")

    x_t = sg.tensors[ins[_X]]
    h_t = sg.tensors[ins[_HIDDEN]]
    c_t = sg.tensors[ins[_CELL]]
    _need_type(x_t, _TFL_INT8, f"{where}: input", "int8")
    _need_type(h_t, _TFL_INT8, f"{where}: hidden state", "int8")
    _need_type(c_t, _TFL_INT16, f"{where}: cell state", "int16")
    x_scale, x_zp = _qparams(x_t, f"{where}: input")
    h_scale, h_zp = _qparams(h_t, f"{where}: hidden state")
    c_scale, c_zp = _qparams(c_t, f"{where}: cell state")
    if c_zp != 0:
        raise ValueError(f"{where}: the cell state has zero point {c_zp}; it must be symmetric (0)")

    w_shape = _shape(sg.tensors[ins[_W_X["forget"]]])
    if len(w_shape) != 2:
        raise ValueError(f"{where}: input weights of shape {w_shape}, expected (units, input_size)")
    units, input_size = w_shape
    x_shape = _shape(x_t)
    if x_shape and x_shape[-1] != input_size:
        raise ValueError(f"{where}: input has {x_shape[-1]} features but the weights expect {input_size}")

    # Cell scale power as TFLite's CheckedLog2 computes it (in float), and its power-of-two check.
    log2 = float(np.float32(math.log(np.float32(c_scale))) * np.float32(1.0 / math.log(2.0)))
    power = int(round(log2))
    if abs(log2 - power) >= 1e-3 or c_scale <= 0:
        raise ValueError(f"{where}: the cell state scale {c_scale:.9g} is not a power of two; "
                         "TFLite Micro's int8 LSTM needs a power-of-two cell scale")
    tanh_left = 15 + power - 3
    if tanh_left > 15:
        raise ValueError(f"{where}: cell state scale 2^{power} is too coarse for the int16 tanh")
    tanh_mult, tanh_shift = (3 << tanh_left, 0) if tanh_left >= 0 else (3, -tanh_left)

    gates: dict[str, GateS8] = {}
    for gate in GATES:
        wx_t, wh_t, b_t = (sg.tensors[ins[s]] for s in (_W_X[gate], _W_H[gate], _BIAS[gate]))
        _need_type(wx_t, _TFL_INT8, f"{where}: {gate} gate input weights", "int8")
        _need_type(wh_t, _TFL_INT8, f"{where}: {gate} gate recurrent weights", "int8")
        _need_type(b_t, _TFL_INT32, f"{where}: {gate} gate bias", "int32 (int8 activations)")
        w_x = _const(model, wx_t, np.int8, (units, input_size), f"{where}: {gate} gate input weights")
        w_h = _const(model, wh_t, np.int8, (units, units), f"{where}: {gate} gate recurrent weights")
        bias = _const(model, b_t, np.int32, (units,), f"{where}: {gate} gate bias")
        sx, zx = _qparams(wx_t, f"{where}: {gate} gate input weights", per_tensor=True)
        sh, zh = _qparams(wh_t, f"{where}: {gate} gate recurrent weights", per_tensor=True)
        if zx != 0 or zh != 0:
            raise ValueError(f"{where}: {gate} gate weights have a nonzero zero point; they must be symmetric")
        b_scale = _scale_or_zero(b_t)
        bias_x = bias.astype(np.int64) - x_zp * w_x.astype(np.int64).sum(axis=1)
        bias_h = -h_zp * w_h.astype(np.int64).sum(axis=1)
        mx, shx = quantize_multiplier(float(x_scale) * float(sx) / GATE_SCALE_IN)
        mh, shh = quantize_multiplier(float(h_scale) * float(sh) / GATE_SCALE_IN)
        gates[gate] = GateS8(gate, w_x, w_h, _int32(bias_x, where), _int32(bias_h, where), mx, shx, mh, shh,
                             float(sx), float(sh), b_scale)

    # Inter-gate products (TFLite Micro: double(s1) * double(s2) / double(s_out); the float32
    # scales 2^-15 and the tensors' float32 scales).
    fm, fs = quantize_multiplier(GATE_SCALE_OUT * float(c_scale) / float(c_scale))
    im, ish = quantize_multiplier(GATE_SCALE_OUT * GATE_SCALE_OUT / float(c_scale))
    hm, hs = quantize_multiplier(GATE_SCALE_OUT * GATE_SCALE_OUT / float(h_scale))

    if cell_clip > 0:
        clip_q = int(min(max(cell_clip / float(c_scale), -32768.0), 32767.0))  # C++ cast truncates
    else:
        clip_q = -1

    time_major = bool(getattr(opts, "timeMajor", False))
    steps = (x_shape[0] if time_major else x_shape[-2]) if len(x_shape) >= 2 else 1
    return LstmS8(input_size=int(input_size), units=int(units), input_scale=float(x_scale), input_zero_point=x_zp,
                  hidden_scale=float(h_scale), hidden_zero_point=h_zp, cell_scale=float(c_scale),
                  cell_scale_power=power, cell_clip=cell_clip, cell_clip_q=clip_q,
                  cell_gate_activation="tanh", gates=gates,
                  forget_mult=fm, forget_shift=fs, input_mult=im, input_shift=ish,
                  tanh_mult=tanh_mult, tanh_shift=tanh_shift, hidden_mult=hm, hidden_shift=hs,
                  time_steps=int(steps))


# ---- helpers ----------------------------------------------------------------------------
def _op_kind(model: Any, op: Any) -> str:
    from tensorflow.lite.python import schema_py_generated as schema

    code = model.operatorCodes[op.opcodeIndex]
    value = max(int(code.builtinCode), int(code.deprecatedBuiltinCode))
    for k, v in vars(schema.BuiltinOperator).items():
        if not k.startswith("_") and v == value:
            return k
    return f"op{value}"


def _shape(t: Any) -> tuple[int, ...]:
    return tuple(int(s) for s in (t.shape if t.shape is not None else ()))


def _tname(t: Any) -> str:
    return (t.name or b"").decode(errors="replace") if isinstance(t.name, bytes) else str(t.name)


def _need_type(t: Any, code: int, what: str, want: str) -> None:
    if int(t.type) != code:
        raise ValueError(f"{what} ({_tname(t)}) has TFLite type {int(t.type)}, the int8 LSTM kernel needs {want}")


def _qparams(t: Any, what: str, per_tensor: bool = False) -> tuple[np.float32, int]:
    q = t.quantization
    if q is None or q.scale is None or len(q.scale) == 0:
        raise ValueError(f"{what} ({_tname(t)}) is not quantized")
    if len(q.scale) != 1:
        kind = "per-channel " if per_tensor else ""
        raise ValueError(f"{what} ({_tname(t)}) has {kind}quantization with {len(q.scale)} scales; "
                         "the int8 LSTM kernel needs one per-tensor scale")
    zp = int(q.zeroPoint[0]) if q.zeroPoint is not None and len(q.zeroPoint) else 0
    return np.float32(q.scale[0]), zp


def _scale_or_zero(t: Any) -> float:
    q = t.quantization
    return float(q.scale[0]) if q is not None and q.scale is not None and len(q.scale) else 0.0


def _const(model: Any, t: Any, dtype: type, shape: tuple[int, ...], what: str) -> np.ndarray:
    buf = model.buffers[t.buffer].data if 0 <= t.buffer < len(model.buffers) else None
    if buf is None or len(buf) == 0:
        raise ValueError(f"{what} ({_tname(t)}) is not a constant tensor with data in the model")
    arr = np.frombuffer(bytes(bytearray(buf)), dtype=dtype)
    if arr.size != int(np.prod(shape)):
        raise ValueError(f"{what} ({_tname(t)}) has {arr.size} values, expected shape {shape}")
    return arr.reshape(shape).copy()


def _int32(v: np.ndarray, where: str) -> np.ndarray:
    if v.min(initial=0) < -(1 << 31) or v.max(initial=0) > (1 << 31) - 1:
        raise ValueError(f"{where}: a folded bias overflows int32")
    return v.astype(np.int32)


def _rq(multiplier: int, shift: int) -> str:
    """el_lstm_s8_rq_t initializer {multiplier, round, rshift, lshift, shift}: TFLite's (multiplier,
    shift) and the fast forms' constants (el_lstm_s8.h)."""
    e = -shift if shift < 0 else 0
    rshift = f"{e}u | 0x80000000u" if e else "0"
    return (f"{{ .multiplier = {multiplier}, .round = {(1 << (e - 1)) if e else 0}, .rshift = {rshift}, "
            f".lshift = {max(shift, 0)}, .shift = {shift} }}")


# ---- integer arithmetic of the runtime, vectorized (for LstmS8.reference) ------------------
def _requantize(x: np.ndarray, multiplier: int, shift: int) -> np.ndarray:
    """el_requantize / TFLite's MultiplyByQuantizedMultiplier on int64 arrays holding int32 values."""
    x = np.asarray(x, np.int64)
    left, right = max(shift, 0), max(-shift, 0)
    a = (x << left)
    a = ((a + (1 << 31)) % (1 << 32)) - (1 << 31)  # int32 wrap, as the C shift does
    ab = a * int(multiplier)
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    s = ab + nudge
    high = np.where(s >= 0, s >> 31, -((-s) >> 31))  # truncating division by 2^31
    high = np.where((a == -(1 << 31)) & (multiplier == -(1 << 31)), (1 << 31) - 1, high)
    if right == 0:
        return high
    mask = (1 << right) - 1
    rem = high & mask
    threshold = (mask >> 1) + (high < 0)
    return (high >> right) + (rem > threshold)


_TABLE: np.ndarray | None = None


def _table() -> np.ndarray:
    """el_sigmoid_table_u16 read from the runtime source, so Python and C share one copy."""
    global _TABLE
    if _TABLE is None:
        import re

        from .toolchain import RUNTIME

        text = (RUNTIME / "src" / "sigmoid_s16.c").read_text()
        body = text[text.index("el_sigmoid_table_u16[257] = {"):]
        body = re.sub(r"/\*.*?\*/", "", body[body.index("{") + 1:body.index("}")], flags=re.S)
        _TABLE = np.asarray([int(v) for v in re.findall(r"\d+", body)], np.int64)
        assert _TABLE.size == 257 and _TABLE[256] == _TABLE[255]
    return _TABLE


def _scaled(v: np.ndarray, multiplier: int, shift: int) -> np.ndarray:
    half = (1 << (shift - 1)) if shift > 0 else 0
    return (np.asarray(v, np.int64) * multiplier + half) >> shift


def sigmoid_s16(v: np.ndarray, multiplier: int, shift: int) -> np.ndarray:
    t = _scaled(v, multiplier, shift)
    mag = np.abs(t)
    idx = mag >> 9
    tab = _table()
    safe = np.minimum(idx, 254)
    y = np.where(idx >= 255, 0x7FFF << 10, (tab[safe] << 9) + (mag & 0x1FF) * (tab[safe + 1] - tab[safe]))
    y = np.where(t >= 0, y + (1 << 9), (1 << 25) - y + (1 << 9) - 1)
    return y >> 10


def tanh_s16(v: np.ndarray, multiplier: int, shift: int) -> np.ndarray:
    t = _scaled(v, multiplier, shift)
    mag = np.abs(t)
    idx = mag >> 8
    tab = _table()
    safe = np.minimum(idx, 254)
    y = np.where(idx >= 255, 0xFFFF << 8, (tab[safe] << 8) + (mag & 0xFF) * (tab[safe + 1] - tab[safe]))
    y = np.where(t >= 0, y - (1 << 23) + (1 << 7), (1 << 23) - y + (1 << 7) - 1)
    return y >> 8
