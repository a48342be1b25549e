"""LayerNormalization over the feature axis, on every timestep (issue 12):

    y = (x - mean(x)) / sqrt(var(x) + epsilon) * gamma + beta      (mean, var over the U features)

Lowered (per timestep, tags ``<l>.<what>``), in ops that need no broadcasting between activations, so
every int8 op is one the C export already runs except RSQRT (a 256-entry table):
  ``.mean``     FULLY_CONNECTED by a (U, U) matrix of 1/U: the mean, repeated on every feature
  ``.centered`` SUB x - mean
  ``.sq``       MUL centered * centered
  ``.var``      FULLY_CONNECTED of sq by 1/U with bias epsilon: var + epsilon, repeated
  ``.rstd``     RSQRT
  ``.norm``     MUL centered * rstd
  ``.gamma``    MUL by the constant gamma (scale=True), ``.beta`` ADD of the constant beta (center=True)
In int8 the 1/U weights quantize exactly (per-channel symmetric: 127 x (1/U)/127) and epsilon sits in the
int32 bias. The tf_keras clone computes the same ops over the (T, U) sequence in one custom layer
(lower.tf_layernorm). Streams: each step is normalized on its own (no state).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ModelError
from ..ir import LayerNormLayer
from . import register
from .common import keras_config


def _axis_is_last(axis: Any, rank: int) -> bool:
    axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    return len(axes) == 1 and isinstance(axes[0], int) and axes[0] % rank == rank - 1


class LayerNormKind:
    type = "layernorm"
    keras_classes = ("LayerNormalization",)

    def parse(self, ctx: Any, keras_layer: Any) -> LayerNormLayer:
        cfg = keras_config(keras_layer)
        where = f"layer {ctx.index} '{keras_layer.name}' (LayerNormalization)"
        rank = 3 if ctx.is_seq else 2
        axis = cfg.get("axis", -1)
        if not _axis_is_last(axis, rank):
            raise ModelError(f"{where} normalizes over axis {axis}; edgelstm supports the feature axis only: "
                             "LayerNormalization(axis=-1)")
        if cfg.get("rms_scaling", False):
            raise ModelError(f"{where} has rms_scaling=True (RMS normalization); edgelstm supports "
                             "rms_scaling=False only")
        scale, center = bool(cfg.get("scale", True)), bool(cfg.get("center", True))
        eps = float(cfg.get("epsilon", 1e-3))
        if not eps > 0.0:
            raise ModelError(f"{where} has epsilon={eps}; use an epsilon > 0 (1/sqrt(var + epsilon) must stay finite)")
        w = [np.asarray(a, np.float32) for a in keras_layer.get_weights()]
        n = ctx.input_size
        gamma = w.pop(0) if scale else np.ones(n, np.float32)
        beta = w.pop(0) if center else np.zeros(n, np.float32)
        if gamma.shape != (n,) or beta.shape != (n,):
            raise ModelError(f"{where} has weights of shape {gamma.shape}/{beta.shape} for {n} features; the model "
                             "is not a linear chain of supported layers")
        return LayerNormLayer(keras_layer.name, n, eps, gamma.reshape(n), beta.reshape(n), scale, center)

    def forward(self, layer: LayerNormLayer, seq: np.ndarray, is_seq: bool) -> tuple[np.ndarray, bool]:
        x = np.asarray(seq, np.float64)
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + layer.epsilon) * layer.gamma + layer.beta, is_seq

    def lower(self, be: Any, layer: LayerNormLayer, tag: str, seq: list, is_seq: bool, zeros: Any) -> tuple[list, bool]:
        return [self._apply(be, layer, tag, v) for v in seq], is_seq

    def step(self, be: Any, layer: LayerNormLayer, tag: str, x: Any, states: list) -> tuple[Any, list]:
        return self._apply(be, layer, tag, x), []

    @staticmethod
    def _apply(be: Any, layer: LayerNormLayer, tag: str, x: Any) -> Any:
        n = layer.input_size
        avg = np.full((n, n), 1.0 / n, np.float32)
        centered = be.sub(x, be.fc(x, avg, None, f"{tag}.mean"), f"{tag}.centered")
        sq = be.mul(centered, centered, f"{tag}.sq")
        var = be.fc(sq, avg, np.full(n, layer.epsilon, np.float32), f"{tag}.var")
        y = be.mul(centered, be.rsqrt(var, f"{tag}.rstd"), f"{tag}.norm")
        if layer.scale:
            y = be.scale(y, layer.gamma, f"{tag}.gamma")
        if layer.center:
            y = be.shift(y, layer.beta, f"{tag}.beta")
        return y

    def state_tags(self, layer: LayerNormLayer, tag: str) -> list[tuple[str, int]]:
        return []

    def tf_keras(self, K: Any, layer: LayerNormLayer, stateful: bool) -> tuple[list, list]:
        from ..lower.tf_layernorm import layer_norm

        return [layer_norm(K, layer)], []

    def count(self, layer: LayerNormLayer, seq_len: int, in_is_seq: bool, quant: str) -> dict:
        """Keras' arithmetic per timestep: two means (U adds each), U subs, the square and the normalize (U
        muls each), one rsqrt, then U muls (gamma) and U adds (beta). No MACs: the lowered graph's 1/U
        matrices are a means of staying broadcast-free, not the math's cost."""
        from ..profile import counts as C

        s = C.STORAGE[quant]
        calls = seq_len if in_is_seq else 1
        u = layer.input_size
        ew = C.zero_ops()
        ew["add"] = 2 * u + (u if layer.center else 0)
        ew["sub"] = u
        ew["mul"] = 2 * u + (u if layer.scale else 0)
        ew["rsqrt"] = 1
        n_w = u * int(layer.scale) + u * int(layer.center)
        return dict(calls=calls, gates={}, macs_per_step=0, macs_per_call=0, macs=0,
                    elementwise_per_call=ew, elementwise=C.scaled(ew, calls),
                    storage={"weights": n_w, "biases": 0, "weight_bytes": int(n_w * s["weight"]),
                             "bias_bytes": 0, "qparam_bytes": 0},
                    weight_bytes=int(n_w * s["weight"]), state_bytes=0, scratch_bytes=0,
                    output_is_sequence=calls > 1)

    def weights(self, layer: LayerNormLayer, prefix: str) -> list[tuple[str, np.ndarray]]:
        out = []
        if layer.scale:
            out.append((f"{prefix}_gamma", np.asarray(layer.gamma).reshape(1, -1)))
        if layer.center:
            out.append((f"{prefix}_beta", np.asarray(layer.beta).reshape(1, -1)))
        return out


LAYERNORM = register(LayerNormKind())
