"""Bidirectional(LSTM|GRU): a forward and a backward direction over the whole sequence, merged.

Keras re-reverses the backward direction's outputs when it returns sequences, so step t of the
merged output pairs forward step t with backward step T-1-t. It needs the whole window: no
streaming step (rules refuse the stateful variant).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ModelError
from ..ir import BidirectionalLayer
from . import register
from .common import keras_config
from .recurrent import count_directions, float_run, gate_weights, lowered_run, parse_rnn, tf_keras_rnn

MERGE_MODES = ("concat", "sum", "mul", "ave")


def merge(mode: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if mode == "concat":
        return np.concatenate([a, b], axis=-1)
    if mode == "sum":
        return a + b
    if mode == "mul":
        return a * b
    return (a + b) / 2.0


class BidirectionalKind:
    type = "bidirectional"
    keras_classes = ("Bidirectional",)

    def parse(self, ctx: Any, keras_layer: Any) -> BidirectionalLayer:
        inner = type(keras_layer.forward_layer).__name__
        if inner not in ("LSTM", "GRU", "SimpleRNN"):
            raise ModelError(f"layer {ctx.index} '{keras_layer.name}' is Bidirectional({inner}); only LSTM, GRU and "
                             "SimpleRNN are supported")
        mode = keras_config(keras_layer).get("merge_mode", "concat")
        if mode not in MERGE_MODES:
            raise ModelError(f"layer {ctx.index} '{keras_layer.name}' has merge_mode={mode}; use "
                             f"{', '.join(MERGE_MODES)}")
        return BidirectionalLayer(keras_layer.name, parse_rnn(ctx, keras_layer.forward_layer, backwards=False),
                                  parse_rnn(ctx, keras_layer.backward_layer, backwards=True), mode)

    def forward(self, layer: BidirectionalLayer, seq: np.ndarray, is_seq: bool) -> tuple[np.ndarray, bool]:
        fw, bw = float_run(layer.forward, seq), float_run(layer.backward, seq)
        if layer.return_sequences:
            return merge(layer.merge_mode, fw, bw[::-1]), True
        return merge(layer.merge_mode, fw[-1], bw[-1]), False

    def lower(self, be: Any, layer: BidirectionalLayer, tag: str, seq: list, is_seq: bool,
              zeros: Any) -> tuple[list, bool]:
        fw = lowered_run(be, layer.forward, tag + "f", seq, zeros)
        bw = lowered_run(be, layer.backward, tag + "b", seq, zeros)
        if layer.return_sequences:
            return [be.merge(a, b, layer.merge_mode, f"{tag}.merge") for a, b in zip(fw, bw[::-1])], True
        return [be.merge(fw[-1], bw[-1], layer.merge_mode, f"{tag}.merge")], False

    def step(self, be: Any, layer: BidirectionalLayer, tag: str, x: Any, states: list) -> tuple[Any, list]:
        raise ValueError("Bidirectional layers cannot be stepped")

    def state_tags(self, layer: BidirectionalLayer, tag: str) -> list[tuple[str, int]]:
        return []

    def tf_keras(self, K: Any, layer: BidirectionalLayer, stateful: bool) -> tuple[list, list]:
        fw, bw = tf_keras_rnn(K, layer.forward), tf_keras_rnn(K, layer.backward)
        weights = [w for d in (layer.forward, layer.backward) for w in (d.kernel, d.recurrent_kernel, d.bias)]
        return [K.layers.Bidirectional(fw, backward_layer=bw, merge_mode=layer.merge_mode)], weights

    def count(self, layer: BidirectionalLayer, seq_len: int, in_is_seq: bool, quant: str) -> dict:
        from ..profile import counts as C

        u = layer.units
        ops = C.zero_ops()
        if layer.merge_mode == "sum":
            ops["add"] = u
        elif layer.merge_mode == "mul":
            ops["mul"] = u
        elif layer.merge_mode == "ave":
            ops.update(add=u, mul=u)
        merge_calls = seq_len if layer.return_sequences else 1
        d = count_directions([layer.forward, layer.backward], seq_len, quant, C.scaled(ops, merge_calls))
        return dict(d, merge_mode=layer.merge_mode, return_sequences=layer.return_sequences,
                    output_is_sequence=layer.return_sequences)

    def weights(self, layer: BidirectionalLayer, prefix: str) -> list[tuple[str, np.ndarray]]:
        return gate_weights(layer.forward, prefix + "f") + gate_weights(layer.backward, prefix + "b")


register(BidirectionalKind())
