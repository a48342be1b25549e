"""Calibration of the lowered graph: min/max of every tagged tensor over all timesteps.

One range per tag (not per timestep), so every timestep of the unrolled graph,
the step model and the C runtime share one quantization.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..ir import ModelDesc
from ..reference import sigmoid
from . import cells

Ranges = dict[str, tuple[float, float]]


class NumpyBackend:
    """Float64 numpy ops on batched (N, features) arrays, recording ranges by tag."""

    def __init__(self) -> None:
        self.ranges: Ranges = {}
        self.addends: dict[str, tuple[str, str]] = {}  # ADD output tag -> its two input tags
        self.fixed: dict[str, tuple[float, float]] = {}  # tags an int8 kernel quantizes with a fixed scale
        self._tag_of: dict[int, str] = {}
        self.feeds: dict[str, str] = {}  # tag -> the activation applied to it (see saturate)

    def _rec(self, tag: str, v: np.ndarray) -> np.ndarray:
        lo, hi = float(v.min()), float(v.max())
        old = self.ranges.get(tag)
        self.ranges[tag] = (lo, hi) if old is None else (min(old[0], lo), max(old[1], hi))
        self._tag_of[id(v)] = tag
        return v

    def fc(self, x, kernel, bias, tag):
        y = x @ kernel
        return self._rec(tag, y if bias is None else y + bias)

    def add(self, a, b, tag):
        self.addends[tag] = (self._tag_of.get(id(a), ""), self._tag_of.get(id(b), ""))
        return self._rec(tag, a + b)

    def sub(self, a, b, tag):
        return self._rec(tag, a - b)

    def mul(self, a, b, tag):
        return self._rec(tag, a * b)

    def sigmoid(self, a, tag):
        self.feeds[self._tag_of.get(id(a), "")] = "sigmoid"
        self.fixed[tag] = FIXED_OUTPUT["sigmoid"]
        return self._rec(tag, sigmoid(a))

    def tanh(self, a, tag):
        self.feeds[self._tag_of.get(id(a), "")] = "tanh"
        self.fixed[tag] = FIXED_OUTPUT["tanh"]
        return self._rec(tag, np.tanh(a))

    def activation(self, a, name, tag):
        if name in FIXED_OUTPUT:
            self.fixed[tag] = FIXED_OUTPUT[name]
        self.feeds[self._tag_of.get(id(a), "")] = name
        if name == "relu":
            v = np.maximum(a, 0.0)
        elif name == "hard_sigmoid":  # relu6(a + 3) / 6 in two quantized steps, as the TF graph has it
            v = self._rec(tag + ".relu6", np.clip(a + 3.0, 0.0, 6.0)) / 6.0
        elif name == "sigmoid":
            v = sigmoid(a)
        elif name == "tanh":
            v = np.tanh(a)
        else:  # softmax
            e = np.exp(a - a.max(axis=-1, keepdims=True))
            v = e / e.sum(axis=-1, keepdims=True)
        return self._rec(tag, v)

    def concat(self, parts, tag):
        return self._rec(tag, np.concatenate(parts, -1))

    def maximum(self, a, b, tag):
        return self._rec(tag, np.maximum(a, b))

    def weighted_sum(self, weights, parts, tag):
        seq = self._rec(tag + ".seq", np.stack(parts, 1))  # (N, T, U): the sequence as one tensor
        return self._rec(tag, np.einsum("nt,ntu->nu", weights, seq))

    def scale(self, a, factor, tag):
        return self._rec(tag, a * np.asarray(factor, np.float64))

    def shift(self, a, offset, tag):
        return self._rec(tag, a + np.asarray(offset, np.float64))

    def rsqrt(self, a, tag):
        return self._rec(tag, 1.0 / np.sqrt(a))

    def zeros_like(self, a, tag):
        return np.zeros_like(a)

    def merge(self, a, b, mode, tag):
        v = {"concat": lambda: np.concatenate([a, b], -1), "sum": lambda: a + b,
             "mul": lambda: a * b, "ave": lambda: (a + b) / 2}[mode]()
        return self._rec(tag, v)

    def state(self, a, tag):
        return self._rec(tag, a)


def calibrate(desc: ModelDesc, x: np.ndarray) -> Ranges:
    """Run the lowered float graph over x (N, T, F) and return the range of every tag.

    Ranges always include 0 (zero must be exactly representable) and have a
    minimum width so a constant tensor still quantizes.
    """
    be = NumpyBackend()
    xs = [x[:, t, :].astype(np.float64) for t in range(x.shape[1])]
    for v in xs:
        be._rec("input", v)

    def zeros(tag: str, size: int) -> np.ndarray:
        return be._rec(tag, np.zeros((x.shape[0], size)))

    out = cells.model_sequence(be, desc, xs, zeros)
    outs: Sequence[np.ndarray] = out if isinstance(out, list) else [out]
    for v in outs:
        be._rec("output", v)
    out = {k: _widen(lo, hi) for k, (lo, hi) in saturate(be.ranges, be.addends, be.feeds).items()}
    out.update(be.fixed)  # e.g. a SimpleRNN state from TANH: its state input must carry TANH's output scale
    return out


#: int8 output ranges TFLite fixes for these kernels (scale 1/256, zero point -128; scale 1/128, zero point 0)
FIXED_OUTPUT = {"sigmoid": (0.0, 255 / 256), "tanh": (-1.0, 127 / 128)}

#: Inputs beyond these are saturated by the activation (sigmoid(8) = 0.99966, tanh(4) = 0.99933: within
#: one output step of the int8 LOGISTIC (1/256) and TANH (1/128) kernels; hard_sigmoid is flat beyond 3).
SATURATION = {"sigmoid": 8.0, "tanh": 4.0, "hard_sigmoid": 3.0}


def saturate(ranges: Ranges, addends: dict[str, tuple[str, str]], feeds: dict[str, str]) -> Ranges:
    """Clip ranges where the activation saturates, exactly.

    A gate pre-activation ``pre = a + b`` feeds sigmoid/tanh, which is flat
    beyond +-lim: its range is clipped to [-lim, lim]. And when ``a`` exceeds
    lim + max|b|, pre is saturated whatever b is, so a's range is clipped to
    +-(lim + max|b|) (and b's likewise; both can never be clipped at once).
    The same 256 int8 levels then resolve the part of the range that matters.
    """
    out = dict(ranges)
    for tag, (lo, hi) in ranges.items():
        parts = tag.split(".")
        if len(parts) != 3 or parts[2] != "pre" or feeds.get(tag) not in SATURATION:
            continue  # (a relu gate does not saturate)
        lim = SATURATION[feeds[tag]]
        out[tag] = (max(lo, -lim), min(hi, lim))
        a, b = addends.get(tag, ("", ""))
        if a in ranges and b in ranges:
            for this, other in ((a, b), (b, a)):
                bound = lim + max(abs(ranges[other][0]), abs(ranges[other][1]))
                out[this] = (max(ranges[this][0], -bound), min(ranges[this][1], bound))
    return out


def _widen(lo: float, hi: float) -> tuple[float, float]:
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    if hi - lo < 1e-6:
        hi = lo + 1e-6
    return lo, hi
