"""Keras layers that become part of another layer: BatchNormalization, Activation, ReLU.

BatchNormalization after a Conv1D, DepthwiseConv1D, SeparableConv1D (its pointwise half) or Dense
(with no activation yet) is folded into its weights: W' = W * g / sqrt(var + eps) per output
channel, b' = (b - mean) * g / sqrt(var + eps) + beta. Anywhere else (after the input, a pooling or
a recurrent layer) it becomes a time-distributed Dense with a diagonal kernel, the same per-feature
affine map. Activation/ReLU after a linear Conv1D or Dense becomes that layer's activation (after a
linear DepthwiseConv1D: relu only); anywhere else an identity Dense carrying the activation (Dense
activations: relu, sigmoid, tanh, softmax).
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ..errors import ModelError
from ..ir import DENSE_ACTIVATIONS, Conv1DLayer, DenseLayer, DepthwiseConv1DLayer
from .common import activation_name, keras_config

FOLD_CLASSES = ("BatchNormalization", "Activation", "ReLU")


def _affine(ctx: Any, keras_layer: Any) -> tuple[np.ndarray, np.ndarray]:
    cfg = keras_config(keras_layer)
    axis = cfg.get("axis", -1)
    axis = axis[0] if isinstance(axis, (list, tuple)) and len(axis) == 1 else axis
    if axis not in (-1, 2):
        raise ModelError(f"layer {ctx.index} '{keras_layer.name}' (BatchNormalization) normalizes axis {axis}; only "
                         "the feature axis (-1) is supported")
    w = [np.asarray(v, np.float64) for v in keras_layer.get_weights()]
    n = ctx.input_size
    gamma = w.pop(0) if cfg.get("scale", True) else np.ones(n)
    beta = w.pop(0) if cfg.get("center", True) else np.zeros(n)
    mean, var = w[0], w[1]
    scale = gamma / np.sqrt(var + float(cfg.get("epsilon", 1e-3)))
    return scale, beta - mean * scale


def _activation(ctx: Any, keras_layer: Any) -> str:
    cls = type(keras_layer).__name__
    cfg = keras_config(keras_layer)
    if cls == "ReLU":
        if cfg.get("max_value") is not None or cfg.get("negative_slope", 0) or cfg.get("threshold", 0):
            raise ModelError(f"layer {ctx.index} '{keras_layer.name}' is a ReLU with max_value/negative_slope/"
                             "threshold; only the plain ReLU is supported")
        return "relu"
    act = activation_name(cfg.get("activation"))
    if act not in DENSE_ACTIVATIONS:
        raise ModelError(f"layer {ctx.index} '{keras_layer.name}' (Activation) is '{act}'; supported: "
                         f"{', '.join(DENSE_ACTIVATIONS)}")
    return act


def fold(ctx: Any, keras_layer: Any, previous: Any | None) -> list[Any]:
    """The layers that replace ``previous`` (the last parsed layer, or None) once ``keras_layer`` is folded in."""
    cls = type(keras_layer).__name__
    foldable = (isinstance(previous, (Conv1DLayer, DepthwiseConv1DLayer, DenseLayer))
                and previous.activation == "linear")
    keep = [] if previous is None else [previous]
    if cls == "BatchNormalization":
        scale, shift = _affine(ctx, keras_layer)
        if foldable:
            k = np.asarray(previous.kernel, np.float64)
            # output channel o scaled by scale[o]: the last axis (Dense, Conv1D), or the (channel, multiplier)
            # pair of a depthwise kernel (k, in, m), whose output channel is c * m + j
            per_out = scale.reshape(k.shape[1:]) if isinstance(previous, DepthwiseConv1DLayer) else scale
            kernel = (k * per_out).astype(np.float32)
            bias = ((np.asarray(previous.bias, np.float64)) * scale + shift).astype(np.float32)
            return [dataclasses.replace(previous, kernel=kernel, bias=bias)]
        diag = np.diag(scale).astype(np.float32)
        return keep + [DenseLayer(keras_layer.name, ctx.input_size, ctx.input_size, "linear", diag,
                                  shift.astype(np.float32), ctx.is_seq)]
    act = _activation(ctx, keras_layer)
    if act == "linear":
        return keep
    if foldable and (act == "relu" or isinstance(previous, DenseLayer)):
        return [dataclasses.replace(previous, activation=act)]
    eye = np.eye(ctx.input_size, dtype=np.float32)
    return keep + [DenseLayer(keras_layer.name, ctx.input_size, ctx.input_size, act, eye,
                              np.zeros(ctx.input_size, np.float32), ctx.is_seq)]
