"""DepthwiseConv1D, and SeparableConv1D read as DepthwiseConv1D followed by a pointwise Conv1D.

DepthwiseConv1D convolves every input channel on its own with depth_multiplier kernels over time
(stride, dilation, padding valid/same, relu or linear): output channel c * depth_multiplier + k reads
input channel c only. SeparableConv1D(filters, ...) is that depthwise convolution (no bias, linear)
then a Conv1D of kernel size 1 (its pointwise kernel, bias and activation): two IR layers, parsed here,
so the pointwise half reuses everything Conv1D has (a BatchNormalization after it folds into it).

Lowered, output step t is one FULLY_CONNECTED over the taps it reads, concatenated, with the kernel
as a block-diagonal matrix (kernel_size * in, in * depth_multiplier) that is zero off each channel's
block (exact in float: the same products, plus zeros):
    <l>.window = CONCAT(x[t*s - pad], x[t*s + d - pad], ...)      <l>.dwconv = FC(window, W, b)
The tf_keras clone keeps DepthwiseConv1D (TFLite DEPTHWISE_CONV_2D, C kernels dwconv_s8 / dwconv_f32).
"""
from __future__ import annotations

from typing import Any, Union

import numpy as np

from ..errors import ModelError
from ..ir import Conv1DLayer, DepthwiseConv1DLayer
from . import register
from .common import activation, keras_config
from .conv import conv_options, lower_windows, window


class DepthwiseConv1DKind:
    type = "dwconv1d"
    keras_classes = ("DepthwiseConv1D", "SeparableConv1D")

    def parse(self, ctx: Any, keras_layer: Any) -> Union[DepthwiseConv1DLayer, list[Any]]:
        """A DepthwiseConv1D layer; for a SeparableConv1D the list [depthwise, pointwise Conv1D]."""
        cls = type(keras_layer).__name__
        cfg = keras_config(keras_layer)
        where = f"layer {ctx.index} '{keras_layer.name}' ({cls})"
        opts = conv_options(ctx, keras_layer, cls)
        mult = int(cfg.get("depth_multiplier", 1))
        if mult < 1:
            raise ModelError(f"{where} has depth_multiplier {mult}; use 1 or more")
        if int(cfg.get("groups", 1)) != 1:
            raise ModelError(f"{where} has groups={cfg.get('groups')}; only groups=1 is supported")
        w = [np.asarray(v, np.float32) for v in keras_layer.get_weights()]
        n = ctx.input_size
        depthwise = w[0]
        if depthwise.shape != (opts.kernel_size, n, mult):
            raise ModelError(f"{where} has a depthwise kernel of shape {depthwise.shape}, expected "
                             f"{(opts.kernel_size, n, mult)} for {n} input features; the model is not a linear chain "
                             "of supported layers")
        use_bias = bool(cfg.get("use_bias", True))
        if cls == "DepthwiseConv1D":
            bias = w[1] if use_bias else np.zeros(n * mult, np.float32)
            return DepthwiseConv1DLayer(keras_layer.name, n, mult, opts.kernel_size, opts.strides, opts.dilation,
                                        opts.padding, opts.activation, depthwise, bias)
        filters = int(cfg["filters"])
        pointwise = w[1].reshape(1, n * mult, filters)
        bias = w[2] if use_bias else np.zeros(filters, np.float32)
        dw = DepthwiseConv1DLayer(f"{keras_layer.name}_depthwise", n, mult, opts.kernel_size, opts.strides,
                                  opts.dilation, opts.padding, "linear", depthwise, np.zeros(n * mult, np.float32))
        pw = Conv1DLayer(f"{keras_layer.name}_pointwise", filters, n * mult, 1, 1, 1, "valid", opts.activation,
                         pointwise, bias)
        return [dw, pw]

    def forward(self, layer: DepthwiseConv1DLayer, seq: np.ndarray, is_seq: bool) -> tuple[np.ndarray, bool]:
        zero = np.zeros(seq.shape[-1])
        kernel = np.asarray(layer.kernel, np.float64)
        out = [np.einsum("jc,jcm->cm", np.stack(window(seq, taps, zero)), kernel).reshape(-1) + layer.bias
               for taps in layer.taps(len(seq))]
        return activation(layer.activation, np.stack(out)), True

    def lower(self, be: Any, layer: DepthwiseConv1DLayer, tag: str, seq: list, is_seq: bool,
              zeros: Any) -> tuple[list, bool]:
        return lower_windows(be, layer, tag, seq, layer.dense_kernel(), "dwconv"), True

    def step(self, be: Any, layer: DepthwiseConv1DLayer, tag: str, x: Any, states: list) -> tuple[Any, list]:
        raise ValueError("DepthwiseConv1D runs over the whole window (no streaming step yet)")

    def state_tags(self, layer: DepthwiseConv1DLayer, tag: str) -> list[tuple[str, int]]:
        return []

    def tf_keras(self, K: Any, layer: DepthwiseConv1DLayer, stateful: bool) -> tuple[list, list]:
        conv = K.layers.DepthwiseConv1D(layer.kernel_size, strides=layer.strides, padding=layer.padding,
                                        depth_multiplier=layer.depth_multiplier, dilation_rate=layer.dilation,
                                        activation=layer.activation)
        return [conv], [layer.kernel, layer.bias]

    def count(self, layer: DepthwiseConv1DLayer, seq_len: int, in_is_seq: bool, quant: str) -> dict:
        from ..profile import counts as C

        s = C.STORAGE[quant]
        taps = layer.taps(seq_len)
        calls = len(taps)
        out_ch = layer.output_size
        # MACs as executed: each output channel reads one input channel over its taps inside the input
        # (padded taps are skipped, as TFLite's depthwise conv skips them)
        macs = sum(1 for t in taps for i in t if i >= 0) * out_ch
        ew = C.zero_ops()
        ew["bias_add"] = out_ch
        if layer.activation == "relu":
            ew["relu"] = out_ch
        qparams = 0 if quant.startswith("float") else out_ch * C.QPARAM_BYTES_PER_CHANNEL
        return dict(activation=layer.activation, kernel_size=layer.kernel_size, strides=layer.strides,
                    dilation=layer.dilation, padding=layer.padding, depth_multiplier=layer.depth_multiplier,
                    calls=calls, gates={}, macs_per_step=macs // max(calls, 1), macs_per_call=macs // max(calls, 1),
                    macs=macs, elementwise_per_call=ew, elementwise=C.scaled(ew, calls),
                    storage={"weights": int(layer.kernel.size), "biases": int(layer.bias.size),
                             "weight_bytes": int(layer.kernel.size * s["weight"]),
                             "bias_bytes": int(layer.bias.size * s["bias"]), "qparam_bytes": qparams},
                    weight_bytes=int(layer.kernel.size * s["weight"] + layer.bias.size * s["bias"] + qparams),
                    state_bytes=0, scratch_bytes=0, output_is_sequence=True, out_len=calls)

    def weights(self, layer: DepthwiseConv1DLayer, prefix: str) -> list[tuple[str, np.ndarray]]:
        return [(f"{prefix}_dwconv_w", layer.dense_kernel().T)]


register(DepthwiseConv1DKind())
