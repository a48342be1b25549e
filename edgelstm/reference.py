"""Float64 numpy forward pass of a ModelDesc: the Keras math, written out by each layer kind
(edgelstm.layers). Used to check a model's description against Keras at load, and as the
float reference of the lowered and streaming semantics."""
from __future__ import annotations

import numpy as np

from .ir import ModelDesc
from .layers import kind_of
from .layers.common import sigmoid  # noqa: F401  (re-exported: the calibration uses the same sigmoid)


def forward(desc: ModelDesc, x: np.ndarray) -> np.ndarray:
    """x: (N, T, F) -> (N, out) or (N, T', out) when the model returns sequences."""
    results = []
    skip = desc.step_mask(x)  # Masking: masked steps are dropped (the recurrent layers skip them)
    for sample, masked in zip(np.asarray(x, dtype=np.float64), skip):
        seq, is_seq = sample[~masked], True
        for layer in desc.layers:
            seq, is_seq = kind_of(layer).forward(layer, seq, is_seq)
        results.append(seq)
    return np.stack(results)
