"""A tf_keras (Keras 2) clone of a ModelDesc with batch fixed to 1.

tf_keras LSTMs convert to the fused UNIDIRECTIONAL_SEQUENCE_LSTM op and tf2onnx
turns tf_keras LSTM/GRU into ONNX LSTM/GRU ops; Keras 3 gives WHILE/Loop.
The weights are copied as they are: the clone's float output equals the source's.
"""
from __future__ import annotations

from typing import Any

from ..ir import ModelDesc
from ..layers import kind_of


def build(desc: ModelDesc, seq_len: int | None = None, stateful: bool = False) -> Any:
    import tf_keras as K

    t = seq_len or desc.seq_len
    model = K.Sequential(name="edgelstm")
    model.add(K.layers.InputLayer(input_shape=(t, desc.input_size), batch_size=1, name="input"))
    weights: list = []
    for layer in desc.layers:
        made, w = kind_of(layer).tf_keras(K, layer, stateful)
        for m in made:
            model.add(m)
        weights += w
    model.set_weights(weights)
    return model
