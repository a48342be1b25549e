"""LSTM, GRU and SimpleRNN: parsing, the float math, the lowered per-gate step, counts, the clone.

The lowered step (every tensor tagged ``<layer>.<what>``; the tag is the unit of quantization)::

  LSTM (gates input i, forget f, cell g, output o)
    <l>.<gate>.x   = FC(x, W_gate, b_gate)           # all biases folded here
    <l>.<gate>.h   = FC(h, U_gate)                   # no bias
    <l>.<gate>.pre = ADD(<gate>.x, <gate>.h)
    i, f, o = LOGISTIC(pre);  g = TANH(pre)
    <l>.fc  = MUL(f, c);  <l>.ig = MUL(i, g);  <l>.c = ADD(fc, ig)
    <l>.tc  = TANH(c);    <l>.h  = MUL(o, tc)

  GRU (gates update z, reset r, candidate n)
    <l>.z.x = FC(x, Wz, bz_in + bz_rec);  <l>.z.h = FC(h, Uz);  z = LOGISTIC(ADD)
    <l>.r.x = FC(x, Wr, br_in + br_rec);  <l>.r.h = FC(h, Ur);  r = LOGISTIC(ADD)
    reset_after=True:   <l>.n.h = FC(h, Un, bn_rec);  <l>.n.rh = MUL(r, n.h)
                        <l>.n.x = FC(x, Wn, bn_in);   n = TANH(ADD(n.x, n.rh))
    reset_after=False:  <l>.n.rh = MUL(r, h);  <l>.n.h = FC(n.rh, Un)
                        <l>.n.x = FC(x, Wn, bn);      n = TANH(ADD(n.x, n.h))
    <l>.hn = SUB(h, n);  <l>.zhn = MUL(z, hn);  <l>.h = ADD(n, zhn)   # = z*h + (1-z)*n

  SimpleRNN (one gate, "hidden")
    <l>.hidden.x = FC(x, W, b);  <l>.hidden.h = FC(h, U);  <l>.hidden.pre = ADD(x part, h part)
    <l>.h = TANH(pre) or RELU(pre)   (a tanh state keeps TANH's fixed int8 scale 1/128 in and out)

The state tensors ``<l>.h`` (and ``<l>.c``) carry one tag for input and output, so a step
model's state output can be fed back as its input byte for byte.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ModelError
from ..ir import GATES, RecurrentLayer
from . import register
from .common import activation, activation_name, keras_config


# ---- parsing -----------------------------------------------------------------------------
#: Activations edgelstm computes in every stage: the state/candidate activation (TFLite int8 TANH and
#: RELU) and the gates' (LOGISTIC, or Keras 3's hard_sigmoid = relu6(x + 3) / 6 as ADD+RELU6 and MUL)
ACTIVATIONS = ("tanh", "relu")
RECURRENT_ACTIVATIONS = ("sigmoid", "hard_sigmoid")
_CELL = {"LSTM": "lstm", "GRU": "gru", "SimpleRNN": "rnn"}


def parse_rnn(ctx: Any, layer: Any, backwards: bool | None = None) -> RecurrentLayer:
    """A Keras LSTM/GRU/SimpleRNN (also the directions of a Bidirectional) as a RecurrentLayer."""
    kind = type(layer).__name__
    cfg = keras_config(layer)
    cell = _CELL[kind]
    act, rec_act = activation_name(cfg.get("activation")), activation_name(cfg.get("recurrent_activation"))
    if act not in ACTIVATIONS:
        raise ModelError(f"layer {ctx.index} '{layer.name}' ({kind}) uses activation={act}; supported: "
                         f"{', '.join(ACTIVATIONS)} (int8 TANH and RELU are what TFLite Micro computes exactly)")
    if cell != "rnn" and rec_act not in RECURRENT_ACTIVATIONS:
        raise ModelError(f"layer {ctx.index} '{layer.name}' ({kind}) uses recurrent_activation={rec_act}; supported: "
                         f"{', '.join(RECURRENT_ACTIVATIONS)}")
    if cfg.get("return_state"):
        raise ModelError(f"layer {ctx.index} '{layer.name}' ({kind}) has return_state=True; build the model without "
                         "it (edgelstm carries state itself in the stateful variant)")
    if cfg.get("time_major"):
        raise ModelError(f"layer {ctx.index} '{layer.name}' ({kind}) is time_major; use batch-major input")
    weights = layer.get_weights()
    units = int(cfg["units"])
    g = len(GATES[cell])
    kernel, rec = weights[0], weights[1]
    reset_after = bool(cfg.get("reset_after", True)) if cell == "gru" else True
    if cfg.get("use_bias", True):
        bias = weights[2]
    else:
        bias = np.zeros((2, g * units) if (cell == "gru" and reset_after) else (g * units,), np.float32)
    if kernel.shape != (ctx.input_size, g * units):
        raise ModelError(f"layer {ctx.index} '{layer.name}' kernel has shape {kernel.shape}, expected "
                         f"{(ctx.input_size, g * units)}; the model is not a linear chain of supported layers")
    return RecurrentLayer(
        name=layer.name, cell=cell, units=units, input_size=ctx.input_size,
        return_sequences=bool(cfg.get("return_sequences", False)),
        kernel=np.asarray(kernel, np.float32), recurrent_kernel=np.asarray(rec, np.float32),
        bias=np.asarray(bias, np.float32),
        go_backwards=bool(cfg.get("go_backwards", False)) if backwards is None else backwards,
        reset_after=reset_after, activation=act, recurrent_activation="sigmoid" if cell == "rnn" else rec_act)


# ---- float math ---------------------------------------------------------------------------
def float_step(layer: RecurrentLayer, x: np.ndarray, state: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    """One timestep in float64, as Keras computes it. state: (h,) for GRU, (h, c) for LSTM."""
    g = {gw.name: gw for gw in layer.gates()}
    h = state[0]
    if layer.cell == "rnn":
        w = g["hidden"]
        return (activation(layer.activation, x @ w.kernel + w.input_bias + h @ w.recurrent),)
    def act(v: np.ndarray) -> np.ndarray:
        return activation(layer.activation, v)

    def gate(v: np.ndarray) -> np.ndarray:
        return activation(layer.recurrent_activation, v)

    if layer.cell == "lstm":
        c = state[1]
        pre = {k: x @ w.kernel + h @ w.recurrent + w.input_bias for k, w in g.items()}
        i, f = gate(pre["input"]), gate(pre["forget"])
        cand, o = act(pre["cell"]), gate(pre["output"])
        c_new = f * c + i * cand
        return o * act(c_new), c_new
    z_w, r_w, n_w = g["update"], g["reset"], g["candidate"]
    z = gate(x @ z_w.kernel + z_w.input_bias + h @ z_w.recurrent + z_w.recurrent_bias)
    r = gate(x @ r_w.kernel + r_w.input_bias + h @ r_w.recurrent + r_w.recurrent_bias)
    if layer.reset_after:
        n = act(x @ n_w.kernel + n_w.input_bias + r * (h @ n_w.recurrent + n_w.recurrent_bias))
    else:
        n = act(x @ n_w.kernel + n_w.input_bias + (r * h) @ n_w.recurrent)
    return (z * h + (1.0 - z) * n,)


def float_run(layer: RecurrentLayer, xs: np.ndarray) -> np.ndarray:
    """xs (T, input_size) -> (T, units) hidden states in Keras output order (processing order)."""
    z = np.zeros(layer.units)
    state: tuple[np.ndarray, ...] = (z, z.copy()) if layer.cell == "lstm" else (z,)
    order = range(len(xs) - 1, -1, -1) if layer.go_backwards else range(len(xs))
    out = []
    for t in order:
        state = float_step(layer, xs[t], state)
        out.append(state[0])
    return np.stack(out) if out else np.zeros((0, layer.units))


# ---- lowered math -------------------------------------------------------------------------
def apply(be: Any, name: str, a: Any, tag: str) -> Any:
    """An activation by Keras name on a backend (LOGISTIC and TANH keep their own backend ops)."""
    if name == "sigmoid":
        return be.sigmoid(a, tag)
    if name == "tanh":
        return be.tanh(a, tag)
    return be.activation(a, name, tag)


def lstm_step(be: Any, layer: RecurrentLayer, tag: str, x: Any, h: Any, c: Any) -> tuple[Any, Any]:
    pre = {}
    for gw in layer.gates():
        gx = be.fc(x, gw.kernel, gw.input_bias + gw.recurrent_bias, f"{tag}.{gw.name}.x")
        gh = be.fc(h, gw.recurrent, None, f"{tag}.{gw.name}.h")
        pre[gw.name] = be.add(gx, gh, f"{tag}.{gw.name}.pre")
    gate, act = layer.recurrent_activation, layer.activation
    i = apply(be, gate, pre["input"], f"{tag}.input.act")
    f = apply(be, gate, pre["forget"], f"{tag}.forget.act")
    g = apply(be, act, pre["cell"], f"{tag}.cell.act")
    o = apply(be, gate, pre["output"], f"{tag}.output.act")
    c_new = be.state(be.add(be.mul(f, c, f"{tag}.fc"), be.mul(i, g, f"{tag}.ig"), f"{tag}.c"), f"{tag}.c")
    h_new = be.state(be.mul(o, apply(be, act, c_new, f"{tag}.tc"), f"{tag}.h"), f"{tag}.h")
    return h_new, c_new


def gru_step(be: Any, layer: RecurrentLayer, tag: str, x: Any, h: Any) -> Any:
    z_w, r_w, n_w = layer.gate("update"), layer.gate("reset"), layer.gate("candidate")
    gate, act = layer.recurrent_activation, layer.activation
    z = apply(be, gate, be.add(be.fc(x, z_w.kernel, z_w.input_bias + z_w.recurrent_bias, f"{tag}.update.x"),
                               be.fc(h, z_w.recurrent, None, f"{tag}.update.h"), f"{tag}.update.pre"),
              f"{tag}.update.act")
    r = apply(be, gate, be.add(be.fc(x, r_w.kernel, r_w.input_bias + r_w.recurrent_bias, f"{tag}.reset.x"),
                               be.fc(h, r_w.recurrent, None, f"{tag}.reset.h"), f"{tag}.reset.pre"),
              f"{tag}.reset.act")
    if layer.reset_after:
        nh = be.fc(h, n_w.recurrent, n_w.recurrent_bias, f"{tag}.candidate.h")
        rh = be.mul(r, nh, f"{tag}.candidate.rh")
        nx = be.fc(x, n_w.kernel, n_w.input_bias, f"{tag}.candidate.x")
        n = apply(be, act, be.add(nx, rh, f"{tag}.candidate.pre"), f"{tag}.candidate.act")
    else:
        rh = be.mul(r, h, f"{tag}.candidate.rh")
        nh = be.fc(rh, n_w.recurrent, None, f"{tag}.candidate.h")
        nx = be.fc(x, n_w.kernel, n_w.input_bias, f"{tag}.candidate.x")
        n = apply(be, act, be.add(nx, nh, f"{tag}.candidate.pre"), f"{tag}.candidate.act")
    hn = be.sub(h, n, f"{tag}.hn")
    zhn = be.mul(z, hn, f"{tag}.zhn")
    return be.state(be.add(n, zhn, f"{tag}.h"), f"{tag}.h")


def rnn_step(be: Any, layer: RecurrentLayer, tag: str, x: Any, h: Any) -> Any:
    w = layer.gate("hidden")
    pre = be.add(be.fc(x, w.kernel, w.input_bias, f"{tag}.hidden.x"), be.fc(h, w.recurrent, None, f"{tag}.hidden.h"),
                 f"{tag}.hidden.pre")
    return be.state(be.activation(pre, layer.activation, f"{tag}.h"), f"{tag}.h")


def lowered_step(be: Any, layer: RecurrentLayer, tag: str, x: Any, state: tuple) -> tuple:
    if layer.cell == "lstm":
        return lstm_step(be, layer, tag, x, state[0], state[1])
    if layer.cell == "rnn":
        return (rnn_step(be, layer, tag, x, state[0]),)
    return (gru_step(be, layer, tag, x, state[0]),)


def state_names(layer: RecurrentLayer) -> tuple[str, ...]:
    return ("h", "c") if layer.cell == "lstm" else ("h",)


def lowered_run(be: Any, layer: RecurrentLayer, tag: str, seq: list, zeros: Any) -> list:
    """Hidden states over seq in processing order (reversed input for go_backwards)."""
    state = tuple(zeros(f"{tag}.{s}", layer.units) for s in state_names(layer))
    outs = []
    for v in (seq[::-1] if layer.go_backwards else seq):
        state = lowered_step(be, layer, tag, v, state)
        outs.append(state[0])
    return outs


# ---- counts --------------------------------------------------------------------------------
def gate_counts(layer: RecurrentLayer) -> dict[str, dict[str, int]]:
    """Per gate, per timestep, one direction: MACs (input/recurrent parts) and bias adds (Keras weights)."""
    i, h = layer.input_size, layer.units
    out: dict[str, dict[str, int]] = {}
    for gate in GATES[layer.cell]:
        two_biases = layer.cell == "gru" and layer.reset_after
        out[gate] = {"input_macs_per_step": h * i, "recurrent_macs_per_step": h * h, "macs_per_step": h * (i + h),
                     "input_bias_adds_per_step": h, "recurrent_bias_adds_per_step": h if two_biases else 0,
                     "bias_adds_per_step": 2 * h if two_biases else h}
    return out


def elementwise_per_step(layer: RecurrentLayer) -> dict[str, int]:
    """Elementwise work per timestep of one direction, as executed (see profile.counts)."""
    from ..profile import counts as C

    h = layer.units
    ops = C.zero_ops()
    if layer.cell == "lstm":  # gates i, f, o; activations of g and c
        ops.update(bias_add=4 * h, gate_add=4 * h, mul=3 * h, add=h)
        gates, acts = 3 * h, 2 * h
    elif layer.cell == "rnn":
        ops.update(bias_add=h, gate_add=h)
        gates, acts = 0, h
    else:  # gates z, r; the candidate's activation
        ops.update(bias_add=(4 if layer.reset_after else 3) * h, gate_add=3 * h, mul=2 * h, sub=h, add=h)
        gates, acts = 2 * h, h
    for name, n in ((layer.recurrent_activation, gates), (layer.activation, acts)):
        for op, k in _ACTIVATION_OPS.get(name, {name: 1}).items():
            ops[op] += k * n
    return ops


#: activations computed as several elementwise ops (hard_sigmoid: ADD 3 with RELU6, then MUL 1/6)
_ACTIVATION_OPS = {"hard_sigmoid": {"add": 1, "relu": 1, "mul": 1}}


def storage(layer: RecurrentLayer, quant: str) -> dict[str, int]:
    from ..profile import counts as C

    # an int8 model's relu GRU or SimpleRNN runs in int16 activations, int64 biases (convert.recurrent16): 16x8
    s = C.STORAGE["int16x8" if quant == "int8" and layer.int16_in_int8 else quant]
    weights = layer.kernel.size + layer.recurrent_kernel.size
    qparams = 0 if quant.startswith("float") else 2 * layer.num_gates * layer.units * C.QPARAM_BYTES_PER_CHANNEL
    state = layer.units * s["act"] + (layer.units * s["cell"] if layer.cell == "lstm" else 0)
    return {"weights": int(weights), "biases": int(layer.bias.size), "weight_bytes_int": int(weights * s["weight"]),
            "bias_bytes": int(layer.bias.size * s["bias"]), "qparam_bytes": qparams, "state_bytes": state,
            "scratch_bytes": C.SCRATCH_BUFFERS * layer.units * s["scratch"]}


def count_directions(dirs: list[RecurrentLayer], seq_len: int, quant: str, merge: dict[str, int]) -> dict:
    """The counts of one recurrent layer with its directions (one, or two for Bidirectional)."""
    from ..profile import counts as C

    first = dirs[0]
    gates = gate_counts(first)
    if len(dirs) == 2:
        gates = {g: C.scaled(c, 2) for g, c in gates.items()}
    ew_step = C.summed(*[elementwise_per_step(r) for r in dirs])
    macs_step = sum(g["macs_per_step"] for g in gates.values())
    stores = [storage(r, quant) for r in dirs]
    d: dict[str, Any] = {"directions": len(dirs), "cell": first.cell, "calls": seq_len}
    if first.cell == "gru":
        d["reset_after"] = first.reset_after
    wbytes = sum(st["weight_bytes_int"] + st["bias_bytes"] + st["qparam_bytes"] for st in stores)
    d.update(gates=gates, macs_per_step=macs_step, macs_per_call=macs_step, macs=macs_step * seq_len,
             elementwise_per_step=ew_step, elementwise=C.summed(C.scaled(ew_step, seq_len), merge),
             storage={"weights": sum(st["weights"] for st in stores), "biases": sum(st["biases"] for st in stores),
                      "weight_bytes": sum(st["weight_bytes_int"] for st in stores),
                      "bias_bytes": sum(st["bias_bytes"] for st in stores),
                      "qparam_bytes": sum(st["qparam_bytes"] for st in stores)},
             weight_bytes=wbytes, state_bytes=sum(st["state_bytes"] for st in stores),
             scratch_bytes=max(st["scratch_bytes"] for st in stores))
    return d


def tf_keras_rnn(K: Any, layer: RecurrentLayer, **extra: Any) -> Any:
    cls = {"lstm": K.layers.LSTM, "gru": K.layers.GRU, "rnn": K.layers.SimpleRNN}[layer.cell]
    opts: dict[str, Any] = dict(return_sequences=layer.return_sequences, go_backwards=layer.go_backwards, **extra)
    if layer.cell == "gru":
        opts["reset_after"] = layer.reset_after
    opts["activation"] = layer.activation
    if layer.cell != "rnn":  # tf_keras's own hard_sigmoid is clip(0.2 x + 0.5): give it Keras 3's
        opts["recurrent_activation"] = _keras3_hard_sigmoid if layer.recurrent_activation == "hard_sigmoid" \
            else layer.recurrent_activation
    return cls(layer.units, **opts)


def _keras3_hard_sigmoid(x: Any) -> Any:
    import tensorflow as tf

    return tf.nn.relu6(x + 3.0) * (1.0 / 6.0)


def gate_weights(layer: RecurrentLayer, prefix: str) -> list[tuple[str, np.ndarray]]:
    out = []
    for gate in layer.gate_names:
        gw = layer.gate(gate)
        out.append((f"{prefix}_{gate}_w_x", np.asarray(gw.kernel).T))
        out.append((f"{prefix}_{gate}_w_h", np.asarray(gw.recurrent).T))
    return out


class RecurrentKind:
    type = "recurrent"
    keras_classes = ("LSTM", "GRU", "SimpleRNN")

    def parse(self, ctx: Any, keras_layer: Any) -> RecurrentLayer:
        return parse_rnn(ctx, keras_layer)

    def forward(self, layer: RecurrentLayer, seq: np.ndarray, is_seq: bool) -> tuple[np.ndarray, bool]:
        hs = float_run(layer, seq)
        if layer.return_sequences:
            return hs, True
        return (hs[-1] if len(hs) else np.zeros(layer.units)), False  # no step (all masked): the zero state

    def lower(self, be: Any, layer: RecurrentLayer, tag: str, seq: list, is_seq: bool, zeros: Any) -> tuple[list, bool]:
        outs = lowered_run(be, layer, tag, seq, zeros)
        return (outs, True) if layer.return_sequences else ([outs[-1]], False)

    def step(self, be: Any, layer: RecurrentLayer, tag: str, x: Any, states: list) -> tuple[Any, list]:
        new = list(lowered_step(be, layer, tag, x, tuple(states)))
        return new[0], new

    def state_tags(self, layer: RecurrentLayer, tag: str) -> list[tuple[str, int]]:
        return [(f"{tag}.{s}", layer.units) for s in state_names(layer)]

    def tf_keras(self, K: Any, layer: RecurrentLayer, stateful: bool) -> tuple[list, list]:
        return [tf_keras_rnn(K, layer, stateful=stateful)], [layer.kernel, layer.recurrent_kernel, layer.bias]

    def count(self, layer: RecurrentLayer, seq_len: int, in_is_seq: bool, quant: str) -> dict:
        from ..profile import counts as C

        return dict(count_directions([layer], seq_len, quant, C.zero_ops()), return_sequences=layer.return_sequences,
                    output_is_sequence=layer.return_sequences)

    def weights(self, layer: RecurrentLayer, prefix: str) -> list[tuple[str, np.ndarray]]:
        return gate_weights(layer, prefix)


register(RecurrentKind())
