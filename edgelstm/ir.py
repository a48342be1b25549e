"""The model description every stage reads.

load -> **ModelDesc** -> lower/convert -> profile -> export -> run.

A ``ModelDesc`` is a linear chain of layers with their float weights in Keras
layout, the sequence length and feature count. It knows nothing about
TensorFlow; stages that need TF build their graphs from it.

Keras weight layout (kept as is, gate blocks along the last axis):
  LSTM  kernel (in, 4u), recurrent (u, 4u), bias (4u,)        gates i, f, c, o
  GRU   kernel (in, 3u), recurrent (u, 3u), bias (3u,) or      gates z, r, h
        (2, 3u) when reset_after (row 0 input bias, row 1 recurrent bias)
  SimpleRNN ("rnn") kernel (in, u), recurrent (u, u), bias (u,)  one gate: h = act(x W + h U + b)

What each kind of layer does in each stage lives in edgelstm/layers/ (one module per kind).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal, Union

import numpy as np

CellKind = Literal["lstm", "gru", "rnn"]

#: Gate names per cell, in Keras kernel block order.
GATES: dict[str, tuple[str, ...]] = {
    "lstm": ("input", "forget", "cell", "output"),
    "rnn": ("hidden",),
    "gru": ("update", "reset", "candidate"),
}

#: Short gate symbols used in generated C and reports.
GATE_SYMBOLS: dict[str, tuple[str, ...]] = {
    "lstm": ("i", "f", "g", "o"),
    "rnn": ("h",),
    "gru": ("z", "r", "n"),
}

DENSE_ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh", "softmax")


@dataclass(frozen=True)
class GateWeights:
    """Weights of one gate: y = x @ kernel + h @ recurrent + input_bias + recurrent_bias."""

    name: str
    kernel: np.ndarray  # (input_size, units)
    recurrent: np.ndarray  # (units, units)
    input_bias: np.ndarray  # (units,)
    recurrent_bias: np.ndarray  # (units,); zeros unless GRU reset_after


@dataclass(frozen=True, eq=False)
class RecurrentLayer:
    name: str
    cell: CellKind
    units: int
    input_size: int
    return_sequences: bool
    kernel: np.ndarray
    recurrent_kernel: np.ndarray
    bias: np.ndarray
    go_backwards: bool = False
    reset_after: bool = True  # GRU only
    activation: str = "tanh"  # the candidate/cell/output activation (SimpleRNN: its one): tanh or relu
    recurrent_activation: str = "sigmoid"  # LSTM/GRU gates: sigmoid or hard_sigmoid

    type: str = field(init=False, default="recurrent")

    @property
    def gate_names(self) -> tuple[str, ...]:
        return GATES[self.cell]

    @property
    def num_gates(self) -> int:
        return len(GATES[self.cell])

    @property
    def int16_in_int8(self) -> bool:
        """Whether an int8 model keeps this layer's activations in int16 (convert.recurrent16): a GRU with a
        relu candidate (its state is unbounded) and sigmoid gates, and a SimpleRNN (no gate: every int8
        rounding of its one recurrence stays in the state)."""
        return (self.cell == "gru" and self.activation == "relu" and self.recurrent_activation == "sigmoid") \
            or self.cell == "rnn"

    @property
    def output_size(self) -> int:
        return self.units

    def gate(self, name: str) -> GateWeights:
        k = self.gate_names.index(name)
        u = self.units
        cols = slice(k * u, (k + 1) * u)
        if self.bias.ndim == 2:
            b_in, b_rec = self.bias[0, cols], self.bias[1, cols]
        else:
            b_in, b_rec = self.bias[cols], np.zeros(u, dtype=self.bias.dtype)
        return GateWeights(name, self.kernel[:, cols], self.recurrent_kernel[:, cols], b_in, b_rec)

    def gates(self) -> list[GateWeights]:
        return [self.gate(g) for g in self.gate_names]

    @property
    def params(self) -> int:
        return int(self.kernel.size + self.recurrent_kernel.size + self.bias.size)


@dataclass(frozen=True, eq=False)
class BidirectionalLayer:
    name: str
    forward: RecurrentLayer
    backward: RecurrentLayer  # go_backwards=True; its outputs are re-reversed as in Keras
    merge_mode: Literal["concat", "sum", "mul", "ave"] = "concat"

    type: str = field(init=False, default="bidirectional")

    @property
    def input_size(self) -> int:
        return self.forward.input_size

    @property
    def units(self) -> int:
        return self.forward.units

    @property
    def cell(self) -> CellKind:
        return self.forward.cell

    @property
    def return_sequences(self) -> bool:
        return self.forward.return_sequences

    @property
    def output_size(self) -> int:
        return 2 * self.forward.units if self.merge_mode == "concat" else self.forward.units

    @property
    def params(self) -> int:
        return self.forward.params + self.backward.params


@dataclass(frozen=True, eq=False)
class DenseLayer:
    name: str
    units: int
    input_size: int
    activation: str
    kernel: np.ndarray  # (input_size, units)
    bias: np.ndarray  # (units,)
    time_distributed: bool = False  # applied to every timestep of a sequence

    type: str = field(init=False, default="dense")

    @property
    def output_size(self) -> int:
        return self.units

    @property
    def params(self) -> int:
        return int(self.kernel.size + self.bias.size)


@dataclass(frozen=True, eq=False)
class Conv1DLayer:
    """Conv1D (BatchNormalization after it folded in): y[t] = act(sum_j x[t*s + j*d - pad] W[j] + b)."""

    name: str
    filters: int
    input_size: int
    kernel_size: int
    strides: int
    dilation: int
    padding: Literal["valid", "same"]
    activation: str  # linear or relu
    kernel: np.ndarray  # (kernel_size, input_size, filters)
    bias: np.ndarray  # (filters,)

    type: str = field(init=False, default="conv1d")

    @property
    def units(self) -> int:
        return self.filters

    @property
    def output_size(self) -> int:
        return self.filters

    @property
    def params(self) -> int:
        return int(self.kernel.size + self.bias.size)

    def taps(self, seq_len: int) -> list[list[int]]:
        """Per output step, the input step each kernel tap reads (-1: zero padding)."""
        return window_taps(seq_len, self.kernel_size, self.strides, self.dilation, self.padding)


@dataclass(frozen=True, eq=False)
class DepthwiseConv1DLayer:
    """DepthwiseConv1D (and the first half of a SeparableConv1D): each input channel c convolved on its own
    with depth_multiplier kernels, y[t, c*m + k] = act(sum_j x[t*s + j*d - pad, c] W[j, c, k] + b[c*m + k])
    (Keras' channel order: the multiplier's outputs of channel c are adjacent)."""

    name: str
    input_size: int
    depth_multiplier: int
    kernel_size: int
    strides: int
    dilation: int
    padding: Literal["valid", "same"]
    activation: str  # linear or relu
    kernel: np.ndarray  # (kernel_size, input_size, depth_multiplier), Keras' layout
    bias: np.ndarray  # (input_size * depth_multiplier,)

    type: str = field(init=False, default="dwconv1d")

    @property
    def units(self) -> int:
        return self.input_size * self.depth_multiplier

    @property
    def output_size(self) -> int:
        return self.input_size * self.depth_multiplier

    @property
    def params(self) -> int:
        return int(self.kernel.size + self.bias.size)

    def taps(self, seq_len: int) -> list[list[int]]:
        """Per output step, the input step each kernel tap reads (-1: zero padding)."""
        return window_taps(seq_len, self.kernel_size, self.strides, self.dilation, self.padding)

    def dense_kernel(self) -> np.ndarray:
        """(kernel_size * input_size, output_size): the kernel as one matrix over the concatenated window,
        zero off each channel's own block (exact in float: the same products, plus zeros)."""
        k, n, m = self.kernel.shape
        out = np.zeros((k, n, n * m), np.float32)
        for c in range(n):
            out[:, c, c * m:(c + 1) * m] = self.kernel[:, c, :]
        return out.reshape(k * n, n * m)


@dataclass(frozen=True, eq=False)
class Pool1DLayer:
    """MaxPooling1D / AveragePooling1D over time; global=True: over the whole sequence (GlobalMax/AveragePooling1D)."""

    name: str
    input_size: int
    mode: Literal["max", "avg"]
    pool_size: int
    strides: int
    padding: Literal["valid", "same"]
    global_: bool = False

    type: str = field(init=False, default="pool1d")

    @property
    def units(self) -> int:
        return self.input_size

    @property
    def output_size(self) -> int:
        return self.input_size

    @property
    def params(self) -> int:
        return 0

    @property
    def return_sequences(self) -> bool:
        return not self.global_

    def taps(self, seq_len: int) -> list[list[int]]:
        if self.global_:
            return [list(range(seq_len))]
        return window_taps(seq_len, self.pool_size, self.strides, 1, self.padding)


def window_taps(seq_len: int, size: int, stride: int, dilation: int, padding: str) -> list[list[int]]:
    """Keras 'valid'/'same' windows over time: per output step the input steps read, -1 for padding."""
    span = dilation * (size - 1) + 1
    if padding == "valid":
        n_out, left = (seq_len - span) // stride + 1, 0
    else:
        n_out = -(-seq_len // stride)
        left = max((n_out - 1) * stride + span - seq_len, 0) // 2
    out = []
    for t in range(max(n_out, 0)):
        taps = [t * stride + j * dilation - left for j in range(size)]
        out.append([i if 0 <= i < seq_len else -1 for i in taps])
    return out


@dataclass(frozen=True, eq=False)
class AttentionPoolLayer:
    """Attention pooling over time (a functional-API block, edgelstm.layers.attention):
    s_t = score(h_t) (a time-distributed Dense stack ending in one unit), a = softmax over t of s,
    y = sum_t a_t h_t, divided by T when mean (the sum is a GlobalAveragePooling1D of a Multiply)."""

    name: str
    input_size: int
    score: tuple[DenseLayer, ...]
    mean: bool = False

    type: str = field(init=False, default="attention")

    @property
    def units(self) -> int:
        return self.input_size

    @property
    def output_size(self) -> int:
        return self.input_size

    @property
    def return_sequences(self) -> bool:
        return False

    @property
    def params(self) -> int:
        return sum(d.params for d in self.score)


@dataclass(frozen=True, eq=False)
class LayerNormLayer:
    """LayerNormalization over the feature axis, on every timestep (or on the one vector):
    y = (x - mean(x)) / sqrt(var(x) + epsilon) * gamma + beta (gamma ones without scale, beta zeros without
    center; var is the biased variance, as Keras computes it)."""

    name: str
    input_size: int
    epsilon: float
    gamma: np.ndarray  # (input_size,)
    beta: np.ndarray  # (input_size,)
    scale: bool = True  # Keras scale=: False keeps gamma at ones (no weight)
    center: bool = True  # Keras center=: False keeps beta at zeros (no weight)

    type: str = field(init=False, default="layernorm")

    @property
    def units(self) -> int:
        return self.input_size

    @property
    def output_size(self) -> int:
        return self.input_size

    @property
    def params(self) -> int:
        return int(self.gamma.size * self.scale + self.beta.size * self.center)


Layer = Union[RecurrentLayer, BidirectionalLayer, DenseLayer, Conv1DLayer, DepthwiseConv1DLayer, Pool1DLayer,
              AttentionPoolLayer, LayerNormLayer]

#: IR types whose outputs each read a window of input steps (they shorten the sequence and block streaming)
WINDOWED_TYPES = ("conv1d", "dwconv1d", "pool1d")


@dataclass(frozen=True, eq=False)
class ModelDesc:
    """A linear chain of layers over an input of shape (seq_len, input_size), batch 1."""

    name: str
    seq_len: int
    input_size: int
    layers: tuple[Layer, ...]
    source: str = ""
    keras_flavour: Literal["keras3", "tf_keras", "spec"] = "keras3"
    #: Keras Masking(mask_value) in front of the recurrent layers (edgelstm.layers.masking): a timestep whose
    #: every feature equals it is skipped (state and output carried unchanged); None: no masking
    mask_value: float | None = None

    @property
    def masked(self) -> bool:
        return self.mask_value is not None

    def step_mask(self, x: np.ndarray) -> np.ndarray:
        """(..., T, F) float inputs -> (..., T) bool, True where the step is masked (Keras: every feature
        equals mask_value, compared in float32). All False without masking."""
        x = np.asarray(x)
        if self.mask_value is None:
            return np.zeros(x.shape[:-1], bool)
        return np.all(x.astype(np.float32) == np.float32(self.mask_value), axis=-1)

    @property
    def output_size(self) -> int:
        return self.layers[-1].output_size

    @property
    def output_is_class_scores(self) -> bool:
        """True when the model ends in a softmax Dense over several classes, one set of scores per series."""
        last = self.layers[-1]
        return (isinstance(last, DenseLayer) and last.activation == "softmax" and last.units > 1
                and not self.output_is_sequence)

    @property
    def output_is_sequence(self) -> bool:
        """True when the model returns one output per timestep."""
        seq = True
        for layer in self.layers:
            seq = getattr(layer, "return_sequences", seq)
        return seq

    @property
    def recurrent_layers(self) -> list[Union[RecurrentLayer, BidirectionalLayer]]:
        return [l for l in self.layers if isinstance(l, (RecurrentLayer, BidirectionalLayer))]

    @property
    def cells(self) -> set[str]:
        return {l.cell for l in self.recurrent_layers}

    @property
    def directions(self) -> list[RecurrentLayer]:
        """Every recurrent direction: a layer, or both directions of a Bidirectional."""
        out: list[RecurrentLayer] = []
        for layer in self.recurrent_layers:
            out += [layer.forward, layer.backward] if isinstance(layer, BidirectionalLayer) else [layer]
        return out

    @property
    def streamable(self) -> bool:
        """Whether the model can run one timestep at a time, in time order, carrying state.

        A Bidirectional layer needs the whole window; so does a go_backwards layer, which
        processes the window from its last step (streaming it forward computes another model).
        Convolution and pooling front ends have no one-step graph (the C export streams the 'valid'
        ones through a ring of inputs: edgelstm.export.stream)."""
        return not self.stream_blocker

    @property
    def stream_blocker(self) -> str:
        """Why the model cannot stream ("" when it can): what needs the whole window."""
        windowed = [l for l in self.layers if l.type in WINDOWED_TYPES]
        if windowed:
            names = ", ".join(sorted({l.type for l in windowed}))
            return (f"Conv1D/pooling layers ({names}: each output reads a window of inputs, and no one-step .tflite "
                    "holds the ring buffer of past inputs that takes; the C export streams a 'valid' front end in "
                    "front of LSTMs through one)")
        if any(l.type == "attention" for l in self.layers):
            return "attention pooling layers (the softmax weighs every timestep of the window)"
        if self.has_bidirectional:
            return "Bidirectional layers"
        if any(d.go_backwards for d in self.directions):
            return "go_backwards layers (they start at the last step)"
        return ""

    def seq_lens(self) -> list[int]:
        """The number of timesteps entering each layer (convolutions and pooling shorten the sequence)."""
        out, t = [], self.seq_len
        for l in self.layers:
            out.append(t)
            if l.type in WINDOWED_TYPES:
                t = len(l.taps(t))
        return out

    @property
    def has_bidirectional(self) -> bool:
        return any(isinstance(l, BidirectionalLayer) for l in self.layers)

    @property
    def params(self) -> int:
        return sum(l.params for l in self.layers)

    def with_seq_len(self, seq_len: int) -> "ModelDesc":
        return dataclasses.replace(self, seq_len=seq_len)

    def summary(self) -> dict:
        """Shapes and options of every layer, without weights (JSON-ready)."""
        out = []
        for l in self.layers:
            d: dict = {"name": l.name, "type": l.type, "input_size": l.input_size,
                       "output_size": l.output_size, "params": l.params}
            d.update(_options(l))
            if isinstance(l, BidirectionalLayer):
                d.update({k: v for k, v in _options(l.forward).items() if k not in ("name", "go_backwards")})
                d["units"] = l.units
            elif hasattr(l, "units"):
                d["units"] = l.units
            if isinstance(l, AttentionPoolLayer):
                d["score"] = [{"units": s.units, "activation": s.activation} for s in l.score]
            if isinstance(l, (RecurrentLayer, BidirectionalLayer)) and l.cell != "gru":
                d.pop("reset_after", None)
            if isinstance(l, (RecurrentLayer, BidirectionalLayer)):  # the defaults are not repeated
                if l.cell != "rnn" and d.get("activation") == "tanh":
                    d.pop("activation", None)
                if l.cell == "rnn" or d.get("recurrent_activation") == "sigmoid":
                    d.pop("recurrent_activation", None)
            out.append(d)
        extra = {} if self.mask_value is None else {"mask_value": self.mask_value}
        return {"name": self.name, "seq_len": self.seq_len, "input_size": self.input_size,
                "output_size": self.output_size, "output_is_sequence": self.output_is_sequence,
                "params": self.params, **extra, "layers": out}


def _options(layer: object) -> dict:
    """A layer's scalar options (no weights), by field name."""
    return {f.name.rstrip("_"): getattr(layer, f.name) for f in dataclasses.fields(layer)  # type: ignore[arg-type]
            if isinstance(getattr(layer, f.name), (bool, int, float, str)) and f.name not in ("name", "type")}
