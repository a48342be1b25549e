"""A tf_keras (Keras 2) clone of a ModelDesc with batch fixed to 1.

tf_keras LSTMs convert to the fused UNIDIRECTIONAL_SEQUENCE_LSTM op and tf2onnx
turns tf_keras LSTM/GRU into ONNX LSTM/GRU ops; Keras 3 gives WHILE/Loop.
The weights are copied as they are: the clone's float output equals the source's.
"""
from __future__ import annotations

from typing import Any

from ..ir import BidirectionalLayer, DenseLayer, ModelDesc, RecurrentLayer


def _rnn(K: Any, layer: RecurrentLayer, **extra: Any) -> Any:
    cls = K.layers.LSTM if layer.cell == "lstm" else K.layers.GRU
    opts: dict[str, Any] = dict(return_sequences=layer.return_sequences, go_backwards=layer.go_backwards, **extra)
    if layer.cell == "gru":
        opts["reset_after"] = layer.reset_after
    return cls(layer.units, **opts)


def build(desc: ModelDesc, seq_len: int | None = None, stateful: bool = False) -> Any:
    import tf_keras as K

    t = seq_len or desc.seq_len
    model = K.Sequential(name="edgelstm")
    model.add(K.layers.InputLayer(input_shape=(t, desc.input_size), batch_size=1, name="input"))
    weights: list = []
    for layer in desc.layers:
        if isinstance(layer, RecurrentLayer):
            model.add(_rnn(K, layer, stateful=stateful))
            weights += [layer.kernel, layer.recurrent_kernel, layer.bias]
        elif isinstance(layer, BidirectionalLayer):
            fw = _rnn(K, layer.forward)
            bw = _rnn(K, layer.backward)
            model.add(K.layers.Bidirectional(fw, backward_layer=bw, merge_mode=layer.merge_mode))
            for d in (layer.forward, layer.backward):
                weights += [d.kernel, d.recurrent_kernel, d.bias]
        elif isinstance(layer, DenseLayer):
            model.add(K.layers.Dense(layer.units, activation=layer.activation))
            weights += [layer.kernel, layer.bias]
    model.set_weights(weights)
    return model
