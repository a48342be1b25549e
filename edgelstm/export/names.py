"""C names for the constants of a .tflite graph, read off the model description: each weight
tensor is matched to the layer and gate whose float weights it quantizes."""
from __future__ import annotations

import numpy as np

from ..ir import ModelDesc
from ..layers import kind_of
from .graph import Graph

_LSTM_WEIGHT_SLOTS = range(1, 9)


def _candidates(desc: ModelDesc) -> list[tuple[str, np.ndarray]]:
    return [c for li, layer in enumerate(desc.layers) for c in kind_of(layer).weights(layer, f"l{li}")]


def weight_names(graph: Graph, desc: ModelDesc) -> dict[int, str]:
    """tensor index -> name like 'l0_update_w_x' for every weight matrix that matches the model."""
    weights: set[int] = set()
    for op in graph.ops:
        if op.kind == "FULLY_CONNECTED":
            weights.add(op.inputs[1])
        elif op.kind == "UNIDIRECTIONAL_SEQUENCE_LSTM":
            weights.update(op.inputs[k] for k in _LSTM_WEIGHT_SLOTS if op.inputs[k] >= 0)
    cands = _candidates(desc)
    names: dict[int, str] = {}
    for i in sorted(weights):
        t = graph.t(i)
        if t.data is None or t.data.ndim != 2:
            continue
        real = t.data.astype(np.float64)
        if t.scale.size:
            real = real * (t.scale.reshape(-1, 1) if t.scale.size > 1 else t.q_scale)
        tol = 0.51 * float(t.scale.max()) + 1e-6 if t.scale.size else 1e-5
        best = min(((float(np.abs(real - m).max()), n) for n, m in cands if m.shape == real.shape), default=None)
        if best is not None and best[0] <= tol:
            names[i] = best[1]
    return names
