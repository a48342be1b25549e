"""Quantization parameters precomputed the way TensorFlow Lite Micro's Prepare functions do,
so that the C kernels only multiply, shift and add at run time."""
from __future__ import annotations

import math

import numpy as np

from ..errors import UnsupportedCombination


def quantize_multiplier(real: float) -> tuple[int, int]:
    """real = multiplier * 2^(shift - 31), multiplier in [2^30, 2^31) (TFLite's QuantizeMultiplier)."""
    if real == 0.0:
        return 0, 0
    frac, shift = math.frexp(real)
    q = int(math.floor(frac * (1 << 31) + 0.5))  # round half away from zero (frac > 0)
    if q == 1 << 31:
        q //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    if shift > 30:
        return (1 << 31) - 1, 30
    return q, shift


def quantize_multiplier_smaller_than_one(real: float) -> tuple[int, int]:
    q, shift = quantize_multiplier(real)
    if shift > 0:
        raise UnsupportedCombination(f"a rescale factor {real:.3g} >= 1 where TFLite expects < 1; "
                                     "re-convert the model with edgelstm convert")
    return q, shift


#: fused activation codes of the TFLite schema
_ACT_NONE, _ACT_RELU, _ACT_RELU_N1_TO_1, _ACT_RELU6 = 0, 1, 2, 3


def activation_range_s8(act: int, scale: float, zero_point: int) -> tuple[int, int]:
    lo, hi = -128, 127
    q = lambda v: zero_point + int(round(v / scale))  # noqa: E731
    if act == _ACT_NONE:
        return lo, hi
    if act == _ACT_RELU:
        return max(lo, q(0.0)), hi
    if act == _ACT_RELU6:
        return max(lo, q(0.0)), min(hi, q(6.0))
    if act == _ACT_RELU_N1_TO_1:
        return max(lo, q(-1.0)), min(hi, q(1.0))
    raise UnsupportedCombination(f"fused activation {act} is not supported by the C export")


def activation_range_f32(act: int) -> tuple[float, float]:
    big = float(np.finfo(np.float32).max)
    return {_ACT_NONE: (-big, big), _ACT_RELU: (0.0, big), _ACT_RELU6: (0.0, 6.0),
            _ACT_RELU_N1_TO_1: (-1.0, 1.0)}.get(act) or _bad_act(act)


def _bad_act(act: int) -> tuple[float, float]:
    raise UnsupportedCombination(f"fused activation {act} is not supported by the C export")
