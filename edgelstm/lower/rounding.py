"""Data-aware rounding of a SimpleRNN's int8 weights (GPTQ, Frantar et al. 2022), before int8 conversion.

Why: a SimpleRNN's whole memory is ``h = act(x W + h U + b)``. Rounding W and U to the nearest int8 value
per output channel (what the converter does) is a fixed perturbation of the recurrence, and on the issue-12
BasicMotions table model it alone moved a test series to another class (U in int8, float activations: 75 %
against float's 80 %; docs/int8-recurrent-accuracy.md). GPTQ chooses each column's integers so that the
products x W and h U over the calibration data stay closest to float: rows are rounded one at a time and
each rounding error is spread over the rows not yet rounded, weighted by the inverse of E[v v^T] of the
vectors v the matrix multiplies (the layer's inputs for W, its previous states for U).

What: the model description with each SimpleRNN's W and U replaced by q * s, where s = max |column| / 127 is
the converter's own per-channel symmetric scale and q the GPTQ integers (the column's largest element keeps
+-127, so the converter finds the same scale and reproduces q exactly). The float Keras model stays the
reference every metric compares with. Only SimpleRNNs: their int8 rounding is what decides a trajectory;
LSTM and GRU layers (gated, and the fused LSTM's weights) keep the converter's rounding.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ..ir import ModelDesc, RecurrentLayer
from ..layers import kind_of

#: Dampening of E[v v^T]'s diagonal (a fraction of its mean), as GPTQ uses to keep the inverse stable.
DAMP = 0.01
#: Largest number of calibration vectors used per matrix.
MAX_VECTORS = 20000


def gptq_columns(w: np.ndarray, v: np.ndarray) -> np.ndarray:
    """int8 integers q (in, out) for the weights w (in, out) of ``v @ w``, per output column symmetric with
    scale max |w[:, o]| / 127, chosen by GPTQ over the sample vectors v (n, in). Each column's largest element
    is +-127 (so that max |q * s| / 127 = s again)."""
    w = np.asarray(w, np.float64)
    n_in = w.shape[0]
    scale = np.abs(w).max(axis=0) / 127.0
    scale[scale == 0] = 1.0
    h = v.T @ v / max(len(v), 1)
    h += DAMP * max(float(np.mean(np.diag(h))), 1e-12) * np.eye(n_in)
    u = np.linalg.cholesky(np.linalg.inv(h)).T  # upper triangular: row i spreads row i's error to rows > i
    pinned = np.abs(w).argmax(axis=0)  # per column, the element that keeps +-127
    rest = w.copy()
    q = np.zeros_like(w)
    for i in range(n_in):
        qi = np.clip(np.round(rest[i] / scale), -127, 127)
        at_max = pinned == i
        qi[at_max] = np.sign(w[i, at_max]) * 127
        q[i] = qi
        err = (rest[i] - qi * scale) / u[i, i]
        rest[i + 1:] -= np.outer(u[i, i + 1:], err)
    return q.astype(np.int64)


def _layer_inputs(desc: ModelDesc, index: int, x: np.ndarray) -> np.ndarray:
    """The sequences (N, T', F') entering layer ``index`` for the inputs x (N, T, F), in float64."""
    out = []
    for sample in np.asarray(x, np.float64):
        seq, is_seq = sample, True
        for layer in desc.layers[:index]:
            seq, is_seq = kind_of(layer).forward(layer, seq, is_seq)
        out.append(seq)
    return np.stack(out)


def _states(layer: RecurrentLayer, xs: np.ndarray) -> np.ndarray:
    """The states h_{t-1} each step of a SimpleRNN reads, over the sequences xs (N, T, F): (N * T, units)."""
    act = np.tanh if layer.activation == "tanh" else (lambda a: np.maximum(a, 0.0))
    h = np.zeros((len(xs), layer.units))
    prev = []
    steps = range(xs.shape[1] - 1, -1, -1) if layer.go_backwards else range(xs.shape[1])
    for t in steps:
        prev.append(h)
        h = act(xs[:, t] @ layer.kernel + h @ layer.recurrent_kernel + layer.bias.reshape(-1)[: layer.units])
    return np.concatenate(prev)


def _sample(v: np.ndarray) -> np.ndarray:
    if len(v) <= MAX_VECTORS:
        return v
    return v[np.linspace(0, len(v) - 1, MAX_VECTORS).astype(np.int64)]


def gptq_simple_rnns(desc: ModelDesc, calib_x: np.ndarray) -> ModelDesc:
    """``desc`` with every SimpleRNN's kernel and recurrent kernel on GPTQ-chosen int8 grid points (see the
    module docstring); ``desc`` itself when it has none."""
    layers = list(desc.layers)
    changed = False
    for idx, layer in enumerate(layers):
        if not (isinstance(layer, RecurrentLayer) and layer.cell == "rnn"):
            continue
        xs = _layer_inputs(desc, idx, calib_x)
        new = {}
        for name, w, v in (("kernel", layer.kernel, xs.reshape(-1, xs.shape[-1])),
                           ("recurrent_kernel", layer.recurrent_kernel, _states(layer, xs))):
            w = np.asarray(w, np.float64)
            scale = np.abs(w).max(axis=0) / 127.0
            new[name] = (gptq_columns(w, _sample(v)) * scale).astype(np.float32)
        layers[idx] = dataclasses.replace(layer, **new)
        changed = True
    return dataclasses.replace(desc, layers=tuple(layers)) if changed else desc
