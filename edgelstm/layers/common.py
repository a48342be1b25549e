"""Helpers the layer kinds share: Keras configs and activations, the same in every stage."""
from __future__ import annotations

from typing import Any

import numpy as np


def keras_config(layer: Any) -> dict:
    return layer.get_config()


def activation_name(act: Any) -> str:
    """A Keras activation as its lower-case name (Keras 3 may serialise it as a dict)."""
    if isinstance(act, dict):
        act = act.get("config", {}).get("name", act.get("class_name", ""))
    return str(act).lower()


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def hard_sigmoid(x: np.ndarray) -> np.ndarray:
    """Keras 3 hard_sigmoid: relu6(x + 3) / 6 (tf_keras: clip(0.2 x + 0.5, 0, 1))."""
    return np.clip(x / 6.0 + 0.5, 0.0, 1.0)


def activation(name: str, x: np.ndarray) -> np.ndarray:
    """Float64 numpy activation by Keras name."""
    if name == "linear":
        return x
    if name == "relu":
        return np.maximum(x, 0.0)
    if name == "sigmoid":
        return sigmoid(x)
    if name == "hard_sigmoid":
        return hard_sigmoid(x)
    if name == "tanh":
        return np.tanh(x)
    if name == "softmax":
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    raise ValueError(f"unknown activation {name}")
