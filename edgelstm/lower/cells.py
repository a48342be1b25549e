"""The lowered model, step by step, over a small op backend.

Each layer kind writes its own lowered math (edgelstm.layers: ``lower`` over a sequence, ``step``
with explicit state); this module strings the layers together. The same functions drive:
  * ``ranges.NumpyBackend``: float run over calibration data recording the min/max of every
    tagged tensor (shared by all timesteps),
  * ``tf_graph.TFBackend``: TensorFlow ops for the TFLite/ONNX converters, with FakeQuant nodes
    pinned to those ranges in int8,
  * the inspector's traces and simulation (edgelstm.inspect).

Every tensor gets a tag ``<layer>.<what>`` (layers.recurrent documents the recurrent cells'
tags); the tag is the unit of quantization and the tensor's name in a converted file.
"""
from __future__ import annotations

from typing import Any, Protocol, Sequence

import numpy as np

from ..ir import ModelDesc
from ..layers import kind_of

T = Any  # a backend tensor


class Backend(Protocol):
    def fc(self, x: T, kernel: np.ndarray, bias: np.ndarray | None, tag: str) -> T: ...
    def add(self, a: T, b: T, tag: str) -> T: ...
    def sub(self, a: T, b: T, tag: str) -> T: ...
    def mul(self, a: T, b: T, tag: str) -> T: ...
    def sigmoid(self, a: T, tag: str) -> T: ...
    def tanh(self, a: T, tag: str) -> T: ...
    def activation(self, a: T, name: str, tag: str) -> T: ...
    def merge(self, a: T, b: T, mode: str, tag: str) -> T: ...
    def concat(self, parts: list[T], tag: str) -> T: ...
    def maximum(self, a: T, b: T, tag: str) -> T: ...
    def weighted_sum(self, weights: T, parts: list[T], tag: str) -> T: ...
    def scale(self, a: T, factor: float | np.ndarray, tag: str) -> T: ...  # by a constant (scalar or per feature)
    def shift(self, a: T, offset: np.ndarray, tag: str) -> T: ...  # plus a constant per feature
    def rsqrt(self, a: T, tag: str) -> T: ...  # 1 / sqrt(a), elementwise
    def zeros_like(self, a: T, tag: str) -> T: ...
    def state(self, a: T, tag: str) -> T: ...


def layer_tag(index: int) -> str:
    """Tag prefix of the layer at this index of ModelDesc.layers (Bidirectional adds f / b)."""
    return f"l{index}"


def state_tags(desc: ModelDesc) -> list[tuple[str, int]]:
    """(tag, size) of every state tensor of a streamable model, in input order."""
    return [st for idx, layer in enumerate(desc.layers) for st in kind_of(layer).state_tags(layer, layer_tag(idx))]


def model_step(be: Backend, desc: ModelDesc, x: T, states: Sequence[T]) -> tuple[T, list[T]]:
    """One timestep of a streamable model: (y, new states).

    y is the model output "as if the sequence ended here" (or this step's output for
    return_sequences models).
    """
    new_states: list[T] = []
    k = 0
    for idx, layer in enumerate(desc.layers):
        kind = kind_of(layer)
        n = len(kind.state_tags(layer, layer_tag(idx)))
        x, st = kind.step(be, layer, layer_tag(idx), x, list(states[k:k + n]))
        k += n
        new_states.extend(st)
    return x, new_states


def model_sequence(be: Backend, desc: ModelDesc, xs: Sequence[T], zeros: Any) -> T | list[T]:
    """The whole model over a list of per-step inputs. Returns one output, or a list per step.

    ``zeros(tag, size)`` makes an initial state tensor.
    """
    seq: list[T] = list(xs)
    is_seq = True
    for idx, layer in enumerate(desc.layers):
        seq, is_seq = kind_of(layer).lower(be, layer, layer_tag(idx), seq, is_seq, zeros)
    return seq if is_seq else seq[0]
