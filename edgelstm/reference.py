"""Float64 numpy forward pass of a ModelDesc: the Keras math, written out.

Used to cross-check lowering (it must equal Keras) and as the float reference
for the streaming (one step at a time) semantics.
"""
from __future__ import annotations

import numpy as np

from .ir import BidirectionalLayer, DenseLayer, ModelDesc, RecurrentLayer


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _activation(name: str, x: np.ndarray) -> np.ndarray:
    if name == "linear":
        return x
    if name == "relu":
        return np.maximum(x, 0.0)
    if name == "sigmoid":
        return sigmoid(x)
    if name == "tanh":
        return np.tanh(x)
    if name == "softmax":
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    raise ValueError(name)


def rnn_step(layer: RecurrentLayer, x: np.ndarray, state: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    """One timestep. x: (input_size,). state: (h,) for GRU, (h, c) for LSTM."""
    g = {gw.name: gw for gw in layer.gates()}
    h = state[0]
    if layer.cell == "lstm":
        c = state[1]
        pre = {k: x @ w.kernel + h @ w.recurrent + w.input_bias for k, w in g.items()}
        i, f = sigmoid(pre["input"]), sigmoid(pre["forget"])
        cand, o = np.tanh(pre["cell"]), sigmoid(pre["output"])
        c_new = f * c + i * cand
        return o * np.tanh(c_new), c_new
    z_w, r_w, n_w = g["update"], g["reset"], g["candidate"]
    z = sigmoid(x @ z_w.kernel + z_w.input_bias + h @ z_w.recurrent + z_w.recurrent_bias)
    r = sigmoid(x @ r_w.kernel + r_w.input_bias + h @ r_w.recurrent + r_w.recurrent_bias)
    if layer.reset_after:
        n = np.tanh(x @ n_w.kernel + n_w.input_bias + r * (h @ n_w.recurrent + n_w.recurrent_bias))
    else:
        n = np.tanh(x @ n_w.kernel + n_w.input_bias + (r * h) @ n_w.recurrent)
    return (z * h + (1.0 - z) * n,)


def initial_state(layer: RecurrentLayer) -> tuple[np.ndarray, ...]:
    z = np.zeros(layer.units)
    return (z, z.copy()) if layer.cell == "lstm" else (z,)


def run_rnn(layer: RecurrentLayer, xs: np.ndarray) -> np.ndarray:
    """xs: (T, input_size) -> (T, units) hidden states in Keras output order."""
    state = initial_state(layer)
    order = range(len(xs) - 1, -1, -1) if layer.go_backwards else range(len(xs))
    out = []
    for t in order:
        state = rnn_step(layer, xs[t], state)
        out.append(state[0])
    return np.stack(out)


def forward(desc: ModelDesc, x: np.ndarray) -> np.ndarray:
    """x: (N, T, F) -> (N, out) or (N, T, out) when the model returns sequences."""
    x = np.asarray(x, dtype=np.float64)
    results = []
    for sample in x:
        seq = sample
        for layer in desc.layers:
            if isinstance(layer, DenseLayer):
                seq = _activation(layer.activation, seq @ layer.kernel + layer.bias)
            elif isinstance(layer, RecurrentLayer):
                hs = run_rnn(layer, seq)
                seq = hs if layer.return_sequences else hs[-1]
            elif isinstance(layer, BidirectionalLayer):
                fw = run_rnn(layer.forward, seq)
                bw = run_rnn(layer.backward, seq)
                if layer.return_sequences:
                    fw_o, bw_o = fw, bw[::-1]  # Keras re-reverses the backward sequence
                else:
                    fw_o, bw_o = fw[-1], bw[-1]
                seq = _merge(layer.merge_mode, fw_o, bw_o)
        results.append(seq)
    return np.stack(results)


def _merge(mode: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if mode == "concat":
        return np.concatenate([a, b], axis=-1)
    if mode == "sum":
        return a + b
    if mode == "mul":
        return a * b
    return (a + b) / 2.0
