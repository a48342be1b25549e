"""The lowered recurrent math, written once over a small op backend.

The same functions drive three things:
  * ``ranges.NumpyBackend``: float run over calibration data recording the
    min/max of every named tensor (shared by all timesteps),
  * ``tf_graph.TFBackend``: TensorFlow ops for the TFLite/ONNX converters, with
    FakeQuant nodes pinned to those ranges when building an int8 graph,
  * the C GRU kernel mirrors this op sequence (see firmware_export/runtime).

Every tensor gets a tag ``<layer>.<what>``; the tag is the unit of quantization.
One timestep of one recurrent layer, per gate (Keras gate order):

LSTM (gates input i, forget f, cell g, output o)::

    <l>.<gate>.x    = FC(x, W_gate, b_gate)            # all biases folded here
    <l>.<gate>.h    = FC(h, U_gate)                    # no bias
    <l>.<gate>.pre  = ADD(<gate>.x, <gate>.h)
    i, f, o = LOGISTIC(pre);  g = TANH(pre)
    <l>.fc  = MUL(f, c);  <l>.ig = MUL(i, g);  <l>.c = ADD(fc, ig)
    <l>.tc  = TANH(c);    <l>.h  = MUL(o, tc)

GRU (gates update z, reset r, candidate n)::

    <l>.z.x = FC(x, Wz, bz_in + bz_rec);  <l>.z.h = FC(h, Uz);  z = LOGISTIC(ADD)
    <l>.r.x = FC(x, Wr, br_in + br_rec);  <l>.r.h = FC(h, Ur);  r = LOGISTIC(ADD)
    reset_after=True:   <l>.n.h = FC(h, Un, bn_rec);  <l>.n.rh = MUL(r, n.h)
                        <l>.n.x = FC(x, Wn, bn_in);   n = TANH(ADD(n.x, n.rh))
    reset_after=False:  <l>.n.rh = MUL(r, h);  <l>.n.h = FC(n.rh, Un)
                        <l>.n.x = FC(x, Wn, bn);      n = TANH(ADD(n.x, n.h))
    <l>.hn = SUB(h, n);  <l>.zhn = MUL(z, hn);  <l>.h = ADD(n, zhn)   # = z*h + (1-z)*n

The state tensors ``<l>.h`` (and ``<l>.c``) carry one tag for input and output,
so a step model's state output can be fed back as its input byte for byte.
"""
from __future__ import annotations

from typing import Any, Protocol, Sequence

import numpy as np

from ..ir import BidirectionalLayer, DenseLayer, ModelDesc, RecurrentLayer

T = Any  # a backend tensor


class Backend(Protocol):
    def fc(self, x: T, kernel: np.ndarray, bias: np.ndarray | None, tag: str) -> T: ...
    def add(self, a: T, b: T, tag: str) -> T: ...
    def sub(self, a: T, b: T, tag: str) -> T: ...
    def mul(self, a: T, b: T, tag: str) -> T: ...
    def sigmoid(self, a: T, tag: str) -> T: ...
    def tanh(self, a: T, tag: str) -> T: ...
    def activation(self, a: T, name: str, tag: str) -> T: ...
    def merge(self, a: T, b: T, mode: str, tag: str) -> T: ...
    def state(self, a: T, tag: str) -> T: ...


def layer_tag(index: int) -> str:
    """Tag prefix of the layer at this index of ModelDesc.layers (Bidirectional adds f / b)."""
    return f"l{index}"


def lstm_step(be: Backend, layer: RecurrentLayer, tag: str, x: T, h: T, c: T) -> tuple[T, T]:
    pre = {}
    for gw in layer.gates():
        gx = be.fc(x, gw.kernel, gw.input_bias + gw.recurrent_bias, f"{tag}.{gw.name}.x")
        gh = be.fc(h, gw.recurrent, None, f"{tag}.{gw.name}.h")
        pre[gw.name] = be.add(gx, gh, f"{tag}.{gw.name}.pre")
    i = be.sigmoid(pre["input"], f"{tag}.input.act")
    f = be.sigmoid(pre["forget"], f"{tag}.forget.act")
    g = be.tanh(pre["cell"], f"{tag}.cell.act")
    o = be.sigmoid(pre["output"], f"{tag}.output.act")
    c_new = be.state(be.add(be.mul(f, c, f"{tag}.fc"), be.mul(i, g, f"{tag}.ig"), f"{tag}.c"), f"{tag}.c")
    h_new = be.state(be.mul(o, be.tanh(c_new, f"{tag}.tc"), f"{tag}.h"), f"{tag}.h")
    return h_new, c_new


def gru_step(be: Backend, layer: RecurrentLayer, tag: str, x: T, h: T) -> T:
    z_w, r_w, n_w = layer.gate("update"), layer.gate("reset"), layer.gate("candidate")
    z = be.sigmoid(be.add(be.fc(x, z_w.kernel, z_w.input_bias + z_w.recurrent_bias, f"{tag}.update.x"),
                          be.fc(h, z_w.recurrent, None, f"{tag}.update.h"), f"{tag}.update.pre"), f"{tag}.update.act")
    r = be.sigmoid(be.add(be.fc(x, r_w.kernel, r_w.input_bias + r_w.recurrent_bias, f"{tag}.reset.x"),
                          be.fc(h, r_w.recurrent, None, f"{tag}.reset.h"), f"{tag}.reset.pre"), f"{tag}.reset.act")
    if layer.reset_after:
        nh = be.fc(h, n_w.recurrent, n_w.recurrent_bias, f"{tag}.candidate.h")
        rh = be.mul(r, nh, f"{tag}.candidate.rh")
        nx = be.fc(x, n_w.kernel, n_w.input_bias, f"{tag}.candidate.x")
        n = be.tanh(be.add(nx, rh, f"{tag}.candidate.pre"), f"{tag}.candidate.act")
    else:
        rh = be.mul(r, h, f"{tag}.candidate.rh")
        nh = be.fc(rh, n_w.recurrent, None, f"{tag}.candidate.h")
        nx = be.fc(x, n_w.kernel, n_w.input_bias, f"{tag}.candidate.x")
        n = be.tanh(be.add(nx, nh, f"{tag}.candidate.pre"), f"{tag}.candidate.act")
    hn = be.sub(h, n, f"{tag}.hn")
    zhn = be.mul(z, hn, f"{tag}.zhn")
    return be.state(be.add(n, zhn, f"{tag}.h"), f"{tag}.h")


def rnn_step(be: Backend, layer: RecurrentLayer, tag: str, x: T, state: tuple[T, ...]) -> tuple[T, ...]:
    if layer.cell == "lstm":
        return lstm_step(be, layer, tag, x, state[0], state[1])
    return (gru_step(be, layer, tag, x, state[0]),)


def dense(be: Backend, layer: DenseLayer, tag: str, x: T) -> T:
    y = be.fc(x, layer.kernel, layer.bias, f"{tag}.fc")
    return y if layer.activation == "linear" else be.activation(y, layer.activation, f"{tag}.act")


def state_tags(desc: ModelDesc) -> list[tuple[str, int]]:
    """(tag, size) of every state tensor of a streamable model, in input order."""
    out = []
    for idx, layer in enumerate(desc.layers):
        if isinstance(layer, RecurrentLayer):
            out.append((f"{layer_tag(idx)}.h", layer.units))
            if layer.cell == "lstm":
                out.append((f"{layer_tag(idx)}.c", layer.units))
    return out


def model_step(be: Backend, desc: ModelDesc, x: T, states: Sequence[T]) -> tuple[T, list[T]]:
    """One timestep of a model without Bidirectional layers: (y, new states).

    y is the model output "as if the sequence ended here" (or this step's output
    for return_sequences models).
    """
    new_states: list[T] = []
    k = 0
    for idx, layer in enumerate(desc.layers):
        if isinstance(layer, DenseLayer):
            x = dense(be, layer, layer_tag(idx), x)
        elif isinstance(layer, RecurrentLayer):
            n = 2 if layer.cell == "lstm" else 1
            st = rnn_step(be, layer, layer_tag(idx), x, tuple(states[k:k + n]))
            k += n
            new_states.extend(st)
            x = st[0]
        else:
            raise ValueError("Bidirectional layers cannot be stepped")
    return x, new_states


def model_sequence(be: Backend, desc: ModelDesc, xs: Sequence[T], zeros: Any) -> T | list[T]:
    """The whole model over a list of per-step inputs. Returns one output, or a list per step.

    ``zeros(tag, size)`` makes an initial state tensor.
    """
    seq: list[T] = list(xs)
    is_seq = True
    for idx, layer in enumerate(desc.layers):
        if isinstance(layer, DenseLayer):
            tag = layer_tag(idx)
            seq = [dense(be, layer, tag, v) for v in seq]
        elif isinstance(layer, RecurrentLayer):
            outs = _run_direction(be, layer, layer_tag(idx), seq, zeros)
            seq = outs if layer.return_sequences else [outs[-1]]
            is_seq = layer.return_sequences
        elif isinstance(layer, BidirectionalLayer):
            tag = layer_tag(idx)
            fw = _run_direction(be, layer.forward, tag + "f", seq, zeros)
            bw = _run_direction(be, layer.backward, tag + "b", seq, zeros)
            if layer.return_sequences:
                bw = bw[::-1]  # Keras re-reverses the backward sequence
                seq = [be.merge(a, b, layer.merge_mode, f"{tag}.merge") for a, b in zip(fw, bw)]
            else:
                seq = [be.merge(fw[-1], bw[-1], layer.merge_mode, f"{tag}.merge")]
            is_seq = layer.return_sequences
    return seq if is_seq else seq[0]


def _run_direction(be: Backend, layer: RecurrentLayer, tag: str, seq: list[T], zeros: Any) -> list[T]:
    state = tuple(zeros(f"{tag}.{s}", layer.units) for s in (("h", "c") if layer.cell == "lstm" else ("h",)))
    order = seq[::-1] if layer.go_backwards else seq
    outs = []
    for v in order:
        state = rnn_step(be, layer, tag, v, state)
        outs.append(state[0])
    return outs
