"""The tf_keras layer of a LayerNormalization in the clone (edgelstm.layers.layernorm).

One custom layer computes the lowered graph's ops over the (rows, U) input (rows: T timesteps, or
one vector): FULLY_CONNECTED by 1/U (the mean, repeated on every feature), SUB, MUL (square),
FULLY_CONNECTED by 1/U plus epsilon, RSQRT, MUL, then MUL gamma and ADD beta. No op broadcasts one
activation over another (tf_keras' own LayerNormalization converts to MEAN and broadcasting
SQUARED_DIFFERENCE/SUB/MUL, which the C export does not run). Imported only where tf_keras is.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..ir import LayerNormLayer


def layer_norm(K: Any, layer: LayerNormLayer) -> Any:
    import tensorflow as tf

    n = layer.input_size
    avg = np.full((n, n), 1.0 / n, np.float32)

    class LayerNorm(K.layers.Layer):  # type: ignore[misc, name-defined]
        def call(self, h: Any) -> Any:
            rows = int(np.prod(h.shape[1:-1])) if len(h.shape) > 2 else 1
            x = tf.reshape(h, (rows, n))
            centered = x - tf.matmul(x, tf.constant(avg))
            var = tf.matmul(centered * centered, tf.constant(avg)) + tf.constant(np.full(n, layer.epsilon, np.float32))
            y = centered * tf.math.rsqrt(var)
            if layer.scale:
                y = y * tf.constant(np.asarray(layer.gamma, np.float32))
            if layer.center:
                y = y + tf.constant(np.asarray(layer.beta, np.float32))
            return tf.reshape(y, tf.shape(h))

        def compute_output_shape(self, input_shape: Any) -> Any:
            return input_shape

    return LayerNorm(name=layer.name.replace("/", "_") or "layer_norm")
