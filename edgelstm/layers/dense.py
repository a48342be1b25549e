"""Dense and TimeDistributed(Dense): y = act(x W + b), on every timestep of a sequence."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ModelError
from ..ir import DENSE_ACTIVATIONS, DenseLayer
from . import register
from .common import activation, activation_name, keras_config


class DenseKind:
    type = "dense"
    keras_classes = ("Dense", "TimeDistributed")

    def parse(self, ctx: Any, keras_layer: Any) -> DenseLayer:
        inner = keras_layer
        if type(keras_layer).__name__ == "TimeDistributed":
            inner = keras_layer.layer
            if type(inner).__name__ != "Dense":
                raise ModelError(f"layer {ctx.index} '{keras_layer.name}' is TimeDistributed({type(inner).__name__}); "
                                 "only TimeDistributed(Dense) is supported")
        cfg = keras_config(inner)
        act = activation_name(cfg.get("activation", "linear"))
        if act not in DENSE_ACTIVATIONS:
            raise ModelError(f"layer {ctx.index} '{inner.name}' (Dense) has activation '{act}'; supported: "
                             f"{', '.join(DENSE_ACTIVATIONS)}")
        w = inner.get_weights()
        kernel = np.asarray(w[0], np.float32)
        bias = np.asarray(w[1], np.float32) if cfg.get("use_bias", True) else np.zeros(kernel.shape[1], np.float32)
        if kernel.shape[0] != ctx.input_size:
            raise ModelError(f"layer {ctx.index} '{inner.name}' (Dense) takes {kernel.shape[0]} inputs but receives "
                             f"{ctx.input_size}; the model is not a linear chain of supported layers")
        return DenseLayer(inner.name, int(cfg["units"]), ctx.input_size, act, kernel, bias, ctx.is_seq)

    def forward(self, layer: DenseLayer, seq: np.ndarray, is_seq: bool) -> tuple[np.ndarray, bool]:
        return activation(layer.activation, seq @ layer.kernel + layer.bias), is_seq

    def lower(self, be: Any, layer: DenseLayer, tag: str, seq: list, is_seq: bool, zeros: Any) -> tuple[list, bool]:
        return [self._apply(be, layer, tag, v) for v in seq], is_seq

    def step(self, be: Any, layer: DenseLayer, tag: str, x: Any, states: list) -> tuple[Any, list]:
        return self._apply(be, layer, tag, x), []

    @staticmethod
    def _apply(be: Any, layer: DenseLayer, tag: str, x: Any) -> Any:
        y = be.fc(x, layer.kernel, layer.bias, f"{tag}.fc")
        return y if layer.activation == "linear" else be.activation(y, layer.activation, f"{tag}.act")

    def state_tags(self, layer: DenseLayer, tag: str) -> list[tuple[str, int]]:
        return []

    def tf_keras(self, K: Any, layer: DenseLayer, stateful: bool) -> tuple[list, list]:
        return [K.layers.Dense(layer.units, activation=layer.activation)], [layer.kernel, layer.bias]

    def count(self, layer: DenseLayer, seq_len: int, in_is_seq: bool, quant: str) -> dict:
        from ..profile import counts as C

        s = C.STORAGE[quant]
        calls = seq_len if (layer.time_distributed and in_is_seq) else 1
        macs = layer.input_size * layer.units
        qparams = 0 if quant.startswith("float") else layer.units * C.QPARAM_BYTES_PER_CHANNEL
        ew = C.zero_ops()
        ew["bias_add"] = layer.units
        if layer.activation in ("sigmoid", "tanh", "relu", "softmax"):
            ew[layer.activation] += layer.units
        return dict(activation=layer.activation, calls=calls, gates={}, macs_per_step=macs if calls > 1 else 0,
                    macs_per_call=macs, macs=macs * calls, elementwise_per_call=ew,
                    elementwise=C.scaled(ew, calls),
                    storage={"weights": int(layer.kernel.size), "biases": int(layer.bias.size),
                             "weight_bytes": int(layer.kernel.size * s["weight"]),
                             "bias_bytes": int(layer.bias.size * s["bias"]), "qparam_bytes": qparams},
                    weight_bytes=int(layer.kernel.size * s["weight"] + layer.bias.size * s["bias"] + qparams),
                    state_bytes=0, scratch_bytes=0, output_is_sequence=calls > 1)

    def weights(self, layer: DenseLayer, prefix: str) -> list[tuple[str, np.ndarray]]:
        return [(f"{prefix}_dense_w", np.asarray(layer.kernel).T)]


DENSE = register(DenseKind())
