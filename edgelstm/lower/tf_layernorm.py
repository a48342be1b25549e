"""The tf_keras layer of a LayerNormalization in the clone (edgelstm.layers.layernorm).

One custom layer computes the lowered graph's ops over the (1, T, U) sequence (or the (1, U) vector): FULLY_CONNECTED by 1/U (the mean, repeated on every feature), SUB, MUL (square),
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
        def call(self, x: Any) -> Any:
            # on the (1, T, U) or (1, U) input as it is: no RESHAPE, so the stateful patch's (1, T, U) -> (1, 1, U)
            # rewrite (convert.patch.set_sequence_length) holds for every tensor of the layer
            centered = x - tf.matmul(x, tf.constant(avg))
            var = tf.matmul(centered * centered, tf.constant(avg)) + tf.constant(np.full(n, layer.epsilon, np.float32))
            y = centered * tf.math.rsqrt(var)
            if layer.scale:
                y = y * tf.constant(np.asarray(layer.gamma, np.float32))
            if layer.center:
                y = y + tf.constant(np.asarray(layer.beta, np.float32))
            return y

        def compute_output_shape(self, input_shape: Any) -> Any:
            return input_shape

    return LayerNorm(name=layer.name.replace("/", "_") or "layer_norm")
