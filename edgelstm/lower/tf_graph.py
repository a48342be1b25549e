"""TensorFlow backend for the lowered graph (import only inside converter processes).

With ``ranges`` given, every tagged tensor is wrapped in a FakeQuant node pinned
to its calibrated range: the int8 converter then uses exactly those ranges, one
per tag, for every timestep. LOGISTIC/TANH/SOFTMAX outputs are left alone (the
int8 kernels fix their output scale).

The TF op that computes a tagged tensor is named ``<tag>.t<k>`` (k: the k-th
time the tag is computed, i.e. the step of that layer); the converter carries op
names into tensor names, and ``tags.parse`` reads them back, so a converted
graph names its tensors ``<tag>@<k>`` (see lower.tags).
"""
from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import tensorflow as tf

from ..ir import ModelDesc
from . import cells, tags
from .ranges import Ranges


#: TFLite Micro's CONCATENATION kernel (kMaxInputNum)
MAX_CONCAT_INPUTS = 10


class TFBackend:
    def __init__(self, ranges: Ranges | None = None) -> None:
        self.ranges = ranges
        self._consts: dict[tuple, Any] = {}
        self._steps: dict[str, int] = {}

    def name(self, tag: str) -> str:
        """The TF op name for the next computation of ``tag``."""
        k = self._steps.get(tag, 0)
        self._steps[tag] = k + 1
        return tags.op_name(tag, k)

    def const(self, key: str, value: np.ndarray) -> Any:
        """One constant per weight, shared by every timestep (else T copies land in the model); keyed by
        value too: a tag's weights may differ between steps (average pooling at a padded edge)."""
        arr = np.asarray(value, np.float32)
        full = (key, arr.shape, hashlib.sha256(arr.tobytes()).hexdigest())
        if full not in self._consts:
            self._consts[full] = tf.constant(arr)
        return self._consts[full]

    def q(self, t: Any, tag: str) -> Any:
        if self.ranges is None:
            return t
        lo, hi = self.ranges[tag]
        return tf.quantization.fake_quant_with_min_max_args(t, min=lo, max=hi, num_bits=8, narrow_range=False)

    def fc(self, x, kernel, bias, tag):
        # FULLY_CONNECTED layout (units, in): the converter then shares one weight buffer across timesteps.
        w = self.const(tag + ".kernel", np.asarray(kernel).T)
        if bias is None or not np.any(bias):
            # no bias, or all zeros (an untrained or use_bias=False layer): an ADD of zeros would be folded away
            # with the name that carries the tag, leaving the FULLY_CONNECTED's output untagged
            return self.q(tf.matmul(x, w, transpose_b=True, name=self.name(tag)), tag)
        y = tf.add(tf.matmul(x, w, transpose_b=True), self.const(tag + ".bias", bias), name=self.name(tag))
        return self.q(y, tag)

    def add(self, a, b, tag):
        return self.q(tf.add(a, b, name=self.name(tag)), tag)

    def sub(self, a, b, tag):
        return self.q(tf.subtract(a, b, name=self.name(tag)), tag)

    def mul(self, a, b, tag):
        return self.q(tf.multiply(a, b, name=self.name(tag)), tag)

    def sigmoid(self, a, tag):
        return tf.sigmoid(a, name=self.name(tag))

    def tanh(self, a, tag):
        return tf.tanh(a, name=self.name(tag))

    def activation(self, a, name, tag):
        if name == "relu":
            return self.q(tf.nn.relu(a, name=self.name(tag)), tag)
        if name == "hard_sigmoid":  # Keras 3: relu6(x + 3) / 6; the converter fuses RELU6 into the ADD
            n = int(a.shape[-1])  # full-width constants (onnxruntime's quantizer takes a scalar for a broken bias)
            t = self.q(tf.nn.relu6(tf.add(a, self.const(tag + ".three", np.full(n, 3.0, np.float32)))), tag + ".relu6")
            sixth = self.const(tag + ".sixth", np.full(n, 1.0 / 6.0, np.float32))
            return self.q(tf.multiply(t, sixth, name=self.name(tag)), tag)
        fn = {"sigmoid": tf.sigmoid, "tanh": tf.tanh, "softmax": tf.nn.softmax}[name]
        return fn(a, name=self.name(tag))

    def concat(self, parts, tag, axis=-1):
        # TFLite Micro's CONCATENATION takes at most MAX_CONCAT_INPUTS inputs: longer lists are joined in
        # groups first (tensors named <tag>.part, quantized as <tag>: every input already has its scale)
        while len(parts) > MAX_CONCAT_INPUTS:
            groups = [parts[i:i + MAX_CONCAT_INPUTS] for i in range(0, len(parts), MAX_CONCAT_INPUTS)]
            parts = [g[0] if len(g) == 1 else self.q(tf.concat(g, axis, name=self.name(tag + ".part")), tag)
                     for g in groups]
        return self.q(tf.concat(parts, axis, name=self.name(tag)), tag)

    def maximum(self, a, b, tag):
        return self.q(tf.maximum(a, b, name=self.name(tag)), tag)

    def weighted_sum(self, weights, parts, tag):
        # (1, T) weights x the (T, U) sequence: one BATCH_MATMUL; the CONCATENATION along axis 0 keeps the
        # steps' common scale (one tag for the whole sequence)
        seq = self.concat(parts, tag + ".seq", axis=0)
        t, u = int(seq.shape[0]), int(seq.shape[1])
        # rank 3 so that the converter keeps a BATCH_MATMUL (a rank-2 product with a FakeQuant operand becomes a
        # FULLY_CONNECTED whose asymmetric "weights" TFLite Micro's int8 kernel does not take)
        y = tf.matmul(tf.reshape(weights, (1, 1, t)), tf.reshape(seq, (1, t, u)))
        return self.q(tf.reshape(y, (1, u), name=self.name(tag)), tag)

    def scale(self, a, factor, tag):
        n = int(a.shape[-1])  # a scalar factor as a full-width constant (a per-feature one as it is)
        return self.q(tf.multiply(a, self.const(tag + ".factor", np.full(n, factor, np.float32)), name=self.name(tag)), tag)

    def shift(self, a, offset, tag):
        n = int(a.shape[-1])
        return self.q(tf.add(a, self.const(tag + ".offset", np.full(n, offset, np.float32)), name=self.name(tag)), tag)

    def rsqrt(self, a, tag):
        return self.q(tf.math.rsqrt(a, name=self.name(tag)), tag)

    def zeros_like(self, a, tag):
        return tf.zeros_like(a)

    def merge(self, a, b, mode, tag):
        name = self.name(tag)
        v = {"concat": lambda: tf.concat([a, b], -1, name=name), "sum": lambda: tf.add(a, b, name=name),
             "mul": lambda: tf.multiply(a, b, name=name), "ave": lambda: tf.multiply(a + b, 0.5, name=name)}[mode]()
        return self.q(v, tag)

    def state(self, a, tag):
        return a  # already quantized under its tag by the op that made it


def sequence_function(desc: ModelDesc, ranges: Ranges | None) -> Any:
    """tf.function x (1, T, F) -> y (1, out) or (1, T, out): the unrolled lowered graph."""
    be = TFBackend(ranges)

    @tf.function(input_signature=[tf.TensorSpec([1, desc.seq_len, desc.input_size], tf.float32, name="input")])
    def model(x):
        xs = [be.q(v, "input") for v in tf.unstack(x, axis=1)]
        out = cells.model_sequence(be, desc, xs, lambda tag, n: tf.zeros([1, n], tf.float32))
        y = tf.stack(out, axis=1) if isinstance(out, list) else out
        return {"output": y}

    return model


def step_function(desc: ModelDesc, ranges: Ranges | None) -> Any:
    """tf.function (x_t (1, F), *states (1, units)) -> {"output", "<state tag>"...}: one timestep."""
    be = TFBackend(ranges)
    order = state_order(desc)
    sig = [tf.TensorSpec([1, desc.input_size], tf.float32, name="input")]
    sig += [tf.TensorSpec([1, n], tf.float32, name=state_name(t)) for t, n in order]

    @tf.function(input_signature=sig)
    def model(x, *states):
        xq = be.q(x, "input")
        by_tag = {t: be.q(s, t) for s, (t, _) in zip(states, order)}
        y, new = cells.model_step(be, desc, xq, [by_tag[t] for t, _ in cells.state_tags(desc)])
        out = {"output": y}
        out.update({state_name(t) + "_out": s for s, (t, _) in zip(new, cells.state_tags(desc))})
        return out  # flattened in sorted key order: output, then states in state_order

    return model


def state_name(tag: str) -> str:
    return "state_" + tag.replace(".", "_")


def state_order(desc: ModelDesc) -> list[tuple[str, int]]:
    """State tensors of the step model in input (and output) order: sorted by name."""
    return sorted(cells.state_tags(desc), key=lambda ts: state_name(ts[0]))
