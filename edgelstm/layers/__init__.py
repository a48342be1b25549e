"""One module per layer kind, registered by its IR type and by the Keras classes it reads.

A kind holds everything the pipeline needs to know about one kind of layer, so a new kind
touches one module (and, for the C export, the handlers of the TFLite ops it converts to):

  parse        a Keras layer -> the kind's IR dataclass (load), or a list of IR layers when one
               Keras layer is several (SeparableConv1D: depthwise, then pointwise Conv1D)
  forward      float64 numpy math on one sample (reference; checked against Keras at load)
  lower        the lowered per-timestep graph over a backend (lower.cells: calibration, TF graphs)
  step         one timestep with explicit state (the stateful graph, streaming)
  state_tags   the state tensors ``step`` carries
  tf_keras     the tf_keras layers of the clone the TFLite converter and tf2onnx read
  count        exact MACs, elementwise work and bytes (profile)
  weights      (name, matrix) pairs the C export names weight tensors after

Stages call ``kind_of(layer)``; nothing else dispatches on layer classes.
"""
from __future__ import annotations

from typing import Any, Protocol

import numpy as np


class ParseContext(Protocol):
    """What a kind's parser knows about where the Keras layer sits."""

    index: int  # position among the Keras model's layers (for messages)
    input_size: int  # features per timestep entering the layer
    is_seq: bool  # whether the input is a sequence (else one vector)


class LayerKind(Protocol):
    type: str
    keras_classes: tuple[str, ...]

    def parse(self, ctx: ParseContext, keras_layer: Any) -> Any: ...
    def forward(self, layer: Any, seq: np.ndarray, is_seq: bool) -> tuple[np.ndarray, bool]: ...
    def lower(self, be: Any, layer: Any, tag: str, seq: list, is_seq: bool, zeros: Any) -> tuple[list, bool]: ...
    def step(self, be: Any, layer: Any, tag: str, x: Any, states: list) -> tuple[Any, list]: ...
    def state_tags(self, layer: Any, tag: str) -> list[tuple[str, int]]: ...
    def tf_keras(self, K: Any, layer: Any, stateful: bool) -> tuple[list, list]: ...
    def count(self, layer: Any, seq_len: int, in_is_seq: bool, quant: str) -> dict: ...
    def weights(self, layer: Any, prefix: str) -> list[tuple[str, np.ndarray]]: ...


_BY_TYPE: dict[str, LayerKind] = {}
_BY_KERAS: dict[str, LayerKind] = {}


def register(kind: LayerKind) -> LayerKind:
    """Add a kind (an instance); a second kind for the same IR type or Keras class is a bug."""
    if kind.type in _BY_TYPE:
        raise RuntimeError(f"two layer kinds for IR type {kind.type!r}")
    _BY_TYPE[kind.type] = kind
    for name in kind.keras_classes:
        if name in _BY_KERAS:
            raise RuntimeError(f"two layer kinds read Keras {name}")
        _BY_KERAS[name] = kind
    return kind


def kind_of(layer: Any) -> LayerKind:
    return _BY_TYPE[layer.type]


def for_keras(class_name: str) -> LayerKind | None:
    return _BY_KERAS.get(class_name)


def keras_classes() -> list[str]:
    return sorted(_BY_KERAS)


# Kinds register on import.
from . import attention, bidirectional, conv, dense, dwconv, layernorm, pooling, recurrent  # noqa: E402,F401
