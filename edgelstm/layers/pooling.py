"""MaxPooling1D, AveragePooling1D, GlobalMaxPooling1D, GlobalAveragePooling1D over time.

Lowered: max pooling is a chain of MAXIMUM over the window's steps (one quantization: the input's);
average pooling is one FULLY_CONNECTED over the concatenated window with weights 1/n (exact in
int8: one weight value per output, quantized to 127 with the per-channel scale). Keras averages
'same' windows over their valid steps only, which the weights follow.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ModelError
from ..ir import Pool1DLayer
from . import register
from .common import keras_config

_MODES = {"MaxPooling1D": ("max", False), "AveragePooling1D": ("avg", False),
          "GlobalMaxPooling1D": ("max", True), "GlobalAveragePooling1D": ("avg", True)}


def _one(v: Any) -> int:
    return int(v[0] if isinstance(v, (list, tuple)) else v)


def avg_weights(n_in: int, taps: list[int]) -> np.ndarray:
    """(len(taps) * n_in, n_in): the mean of the valid taps, feature by feature."""
    valid = [k for k, i in enumerate(taps) if i >= 0]
    w = np.zeros((len(taps) * n_in, n_in), np.float32)
    for k in valid:
        w[k * n_in:(k + 1) * n_in] = np.eye(n_in, dtype=np.float32) / len(valid)
    return w


class PoolKind:
    type = "pool1d"
    keras_classes = tuple(_MODES)

    def parse(self, ctx: Any, keras_layer: Any) -> Pool1DLayer:
        cls = type(keras_layer).__name__
        cfg = keras_config(keras_layer)
        mode, is_global = _MODES[cls]
        where = f"layer {ctx.index} '{keras_layer.name}' ({cls})"
        if cfg.get("data_format", "channels_last") != "channels_last":
            raise ModelError(f"{where} is channels_first; use channels_last (batch, timesteps, features)")
        if not ctx.is_seq:
            raise ModelError(f"{where} follows a layer that returns no sequence; pool before the recurrent layers")
        if is_global:
            if cfg.get("keepdims"):
                raise ModelError(f"{where} has keepdims=True; use keepdims=False")
            return Pool1DLayer(keras_layer.name, ctx.input_size, mode, 0, 1, "valid", global_=True)
        size = _one(cfg["pool_size"])
        strides = _one(cfg.get("strides") or size)
        return Pool1DLayer(keras_layer.name, ctx.input_size, mode, size, strides, cfg.get("padding", "valid"))

    def forward(self, layer: Pool1DLayer, seq: np.ndarray, is_seq: bool) -> tuple[np.ndarray, bool]:
        out = []
        for taps in layer.taps(len(seq)):
            rows = seq[[i for i in taps if i >= 0]]
            out.append(rows.max(axis=0) if layer.mode == "max" else rows.mean(axis=0))
        y = np.stack(out)
        return (y[0], False) if layer.global_ else (y, True)

    def lower(self, be: Any, layer: Pool1DLayer, tag: str, seq: list, is_seq: bool, zeros: Any) -> tuple[list, bool]:
        out = []
        for taps in layer.taps(len(seq)):
            if layer.mode == "max":
                parts = [seq[i] for i in taps if i >= 0]
                y = parts[0]
                for p in parts[1:]:
                    y = be.maximum(y, p, f"{tag}.max")
            else:
                zero = be.zeros_like(seq[0], f"{tag}.pad")
                x = be.concat([seq[i] if i >= 0 else zero for i in taps], f"{tag}.window")
                y = be.fc(x, avg_weights(layer.input_size, taps), None, f"{tag}.avg")
            out.append(y)
        return (out[:1], False) if layer.global_ else (out, True)

    def step(self, be: Any, layer: Pool1DLayer, tag: str, x: Any, states: list) -> tuple[Any, list]:
        raise ValueError("pooling runs over the whole window (no streaming step yet)")

    def state_tags(self, layer: Pool1DLayer, tag: str) -> list[tuple[str, int]]:
        return []

    def tf_keras(self, K: Any, layer: Pool1DLayer, stateful: bool) -> tuple[list, list]:
        if layer.global_:
            cls = K.layers.GlobalMaxPooling1D if layer.mode == "max" else K.layers.GlobalAveragePooling1D
            return [cls()], []
        cls = K.layers.MaxPooling1D if layer.mode == "max" else K.layers.AveragePooling1D
        return [cls(layer.pool_size, strides=layer.strides, padding=layer.padding)], []

    def count(self, layer: Pool1DLayer, seq_len: int, in_is_seq: bool, quant: str) -> dict:
        from ..profile import counts as C

        taps = layer.taps(seq_len)
        reads = sum(1 for t in taps for i in t if i >= 0)
        ew = C.zero_ops()
        key = "max" if layer.mode == "max" else "add"
        ew[key] = (reads - len(taps)) * layer.input_size  # comparisons or additions per output
        if layer.mode == "avg":
            ew["mul"] = len(taps) * layer.input_size
        per_call = {k: v // max(len(taps), 1) for k, v in ew.items()}
        return dict(mode=layer.mode, pool_size=layer.pool_size, strides=layer.strides, calls=len(taps), gates={},
                    macs_per_step=0, macs_per_call=0, macs=0, elementwise_per_call=per_call, elementwise=ew,
                    storage={"weights": 0, "biases": 0, "weight_bytes": 0, "bias_bytes": 0, "qparam_bytes": 0},
                    weight_bytes=0, state_bytes=0, scratch_bytes=0, output_is_sequence=not layer.global_,
                    out_len=len(taps))

    def weights(self, layer: Pool1DLayer, prefix: str) -> list[tuple[str, np.ndarray]]:
        return []


register(PoolKind())
