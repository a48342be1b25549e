"""The tf_keras layer of an attention pooling block in the clone (edgelstm.layers.attention).

One custom layer computes the block with the ops the TFLite converter maps one to one:
FULLY_CONNECTED over the (T, U) sequence per score Dense (its activation after it), RESHAPE to
(1, T), SOFTMAX, BATCH_MATMUL of the (1, T) weights with the (T, U) sequence, and a MUL by 1/T
for the GlobalAveragePooling1D form. Imported only where tf_keras is (converter children).
"""
from __future__ import annotations

from typing import Any

from ..ir import AttentionPoolLayer


def attention_pool(K: Any, layer: AttentionPoolLayer) -> Any:
    import tensorflow as tf

    class AttentionPool(K.layers.Layer):  # type: ignore[misc, name-defined]
        def build(self, input_shape: Any) -> None:
            self.dense = []
            for k, d in enumerate(layer.score):
                w = self.add_weight(name=f"score{k}_kernel", shape=d.kernel.shape)
                b = self.add_weight(name=f"score{k}_bias", shape=d.bias.shape)
                self.dense.append((w, b, d.activation))
            super().build(input_shape)

        def call(self, h: Any) -> Any:
            t, u = int(h.shape[1]), int(h.shape[2])
            seq = tf.reshape(h, (t, u))
            s = seq
            for w, b, act in self.dense:
                s = tf.matmul(s, w) + b
                if act != "linear":
                    s = K.activations.get(act)(s)
            weights = tf.nn.softmax(tf.reshape(s, (1, t)))
            y = tf.matmul(weights, seq)
            return y * (1.0 / t) if layer.mean else y

        def compute_output_shape(self, input_shape: Any) -> Any:
            return (input_shape[0], input_shape[2])

    return AttentionPool(name=layer.name.replace("/", "_") or "attention")
