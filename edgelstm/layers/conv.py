"""Conv1D: a convolution over time (stride, dilation, padding valid/same, relu or linear).

Lowered, output step t is one FULLY_CONNECTED over the taps it reads, concatenated (the
kernel flattened to (kernel_size * in, filters); 'same' padding reads zeros):
    <l>.window = CONCAT(x[t*s - pad], x[t*s + d - pad], ...)      <l>.conv = FC(window, W, b)
with relu fused (int8: the FC's activation range). The tf_keras clone keeps Conv1D (TFLite
CONV_2D), so an LSTM model keeps its fused LSTM op after a convolutional front end.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ..errors import ModelError
from ..ir import Conv1DLayer
from . import register
from .common import activation, activation_name, keras_config

CONV_ACTIVATIONS = ("linear", "relu")


def window(seq: Any, taps: list[int], zero: Any) -> list:
    return [seq[i] if i >= 0 else zero for i in taps]


@dataclass(frozen=True)
class ConvOptions:
    """The options Conv1D, DepthwiseConv1D and SeparableConv1D share, checked."""

    kernel_size: int
    strides: int
    dilation: int
    padding: Literal["valid", "same"]
    activation: str


def conv_options(ctx: Any, keras_layer: Any, cls: str) -> ConvOptions:
    """Read and check a 1D convolution's shared options; anything edgelstm does not model is a ModelError."""
    cfg = keras_config(keras_layer)
    where = f"layer {ctx.index} '{keras_layer.name}' ({cls})"
    act = activation_name(cfg.get("activation", "linear"))
    if act not in CONV_ACTIVATIONS:
        raise ModelError(f"{where} has activation '{act}'; supported: {', '.join(CONV_ACTIVATIONS)} (a following "
                         "Activation layer is folded in)")
    padding = cfg.get("padding", "valid")
    if padding not in ("valid", "same"):
        raise ModelError(f"{where} has padding '{padding}'; use 'valid' or 'same'")
    if cfg.get("data_format", "channels_last") != "channels_last":
        raise ModelError(f"{where} is channels_first; use channels_last (batch, timesteps, features)")
    if not ctx.is_seq:
        raise ModelError(f"{where} follows a layer that returns no sequence; put it before the recurrent layers")
    (k,), (s,), (d,) = (tuple(cfg[n]) if isinstance(cfg[n], (list, tuple)) else (cfg[n],)
                        for n in ("kernel_size", "strides", "dilation_rate"))
    if s > 1 and d > 1:
        why = ("Keras allows only one of them above 1" if cls == "Conv1D" else
               "edgelstm supports only one of them above 1 (tf_keras, which the converters read, refuses both)")
        raise ModelError(f"{where} has strides {s} and dilation {d}; {why}")
    return ConvOptions(int(k), int(s), int(d), padding, act)


def lower_windows(be: Any, layer: Any, tag: str, seq: list, flat: np.ndarray, what: str) -> list:
    """A convolution over time, lowered: per output step one FULLY_CONNECTED (``flat``: the kernel as
    (taps * in, out)) over its window's steps concatenated (<tag>.window, <tag>.<what>), 'same' padding
    reading zeros (<tag>.pad), relu after it (<tag>.act)."""
    zero = be.zeros_like(seq[0], f"{tag}.pad") if layer.padding == "same" else None
    out = []
    for taps in layer.taps(len(seq)):
        x = be.concat(window(seq, taps, zero), f"{tag}.window")
        y = be.fc(x, flat, layer.bias, f"{tag}.{what}")
        out.append(be.activation(y, "relu", f"{tag}.act") if layer.activation == "relu" else y)
    return out


class Conv1DKind:
    type = "conv1d"
    keras_classes = ("Conv1D",)

    def parse(self, ctx: Any, keras_layer: Any) -> Conv1DLayer:
        cfg = keras_config(keras_layer)
        where = f"layer {ctx.index} '{keras_layer.name}' (Conv1D)"
        if int(cfg.get("groups", 1)) != 1:
            raise ModelError(f"{where} has groups={cfg.get('groups')}; only groups=1 is supported")
        opts = conv_options(ctx, keras_layer, "Conv1D")
        w = keras_layer.get_weights()
        kernel = np.asarray(w[0], np.float32)
        filters = int(cfg["filters"])
        bias = np.asarray(w[1], np.float32) if cfg.get("use_bias", True) else np.zeros(filters, np.float32)
        return Conv1DLayer(keras_layer.name, filters, ctx.input_size, opts.kernel_size, opts.strides, opts.dilation,
                           opts.padding, opts.activation, kernel, bias)

    def forward(self, layer: Conv1DLayer, seq: np.ndarray, is_seq: bool) -> tuple[np.ndarray, bool]:
        zero = np.zeros(seq.shape[-1])
        flat = layer.kernel.reshape(-1, layer.filters)
        out = [np.concatenate(window(seq, taps, zero)) @ flat + layer.bias for taps in layer.taps(len(seq))]
        return activation(layer.activation, np.stack(out)), True

    def lower(self, be: Any, layer: Conv1DLayer, tag: str, seq: list, is_seq: bool, zeros: Any) -> tuple[list, bool]:
        return lower_windows(be, layer, tag, seq, layer.kernel.reshape(-1, layer.filters), "conv"), True

    def step(self, be: Any, layer: Conv1DLayer, tag: str, x: Any, states: list) -> tuple[Any, list]:
        raise ValueError("Conv1D runs over the whole window (no streaming step yet)")

    def state_tags(self, layer: Conv1DLayer, tag: str) -> list[tuple[str, int]]:
        return []

    def tf_keras(self, K: Any, layer: Conv1DLayer, stateful: bool) -> tuple[list, list]:
        conv = K.layers.Conv1D(layer.filters, layer.kernel_size, strides=layer.strides, padding=layer.padding,
                               dilation_rate=layer.dilation, activation=layer.activation)
        return [conv], [layer.kernel, layer.bias]

    def count(self, layer: Conv1DLayer, seq_len: int, in_is_seq: bool, quant: str) -> dict:
        from ..profile import counts as C

        s = C.STORAGE[quant]
        taps = layer.taps(seq_len)
        calls = len(taps)
        # MACs as executed: padded taps read zeros and are skipped (TFLite's conv skips them too)
        macs = sum(1 for t in taps for i in t if i >= 0) * layer.input_size * layer.filters
        ew = C.zero_ops()
        ew["bias_add"] = layer.filters
        if layer.activation == "relu":
            ew["relu"] = layer.filters
        qparams = 0 if quant.startswith("float") else layer.filters * C.QPARAM_BYTES_PER_CHANNEL
        return dict(activation=layer.activation, kernel_size=layer.kernel_size, strides=layer.strides,
                    dilation=layer.dilation, padding=layer.padding, calls=calls, gates={},
                    macs_per_step=macs // max(calls, 1), macs_per_call=macs // max(calls, 1), macs=macs,
                    elementwise_per_call=ew, elementwise=C.scaled(ew, calls),
                    storage={"weights": int(layer.kernel.size), "biases": int(layer.bias.size),
                             "weight_bytes": int(layer.kernel.size * s["weight"]),
                             "bias_bytes": int(layer.bias.size * s["bias"]), "qparam_bytes": qparams},
                    weight_bytes=int(layer.kernel.size * s["weight"] + layer.bias.size * s["bias"] + qparams),
                    state_bytes=0, scratch_bytes=0, output_is_sequence=True, out_len=calls)

    def weights(self, layer: Conv1DLayer, prefix: str) -> list[tuple[str, np.ndarray]]:
        return [(f"{prefix}_conv_w", layer.kernel.reshape(-1, layer.filters).T)]


register(Conv1DKind())
