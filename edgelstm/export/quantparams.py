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


_QRANGE = {"int8": (-128, 127), "int16": (-32768, 32767)}


def _tflite_round(v: float) -> int:
    """TfLiteRound (std::round): half away from zero."""
    return int(math.floor(abs(v) + 0.5)) * (1 if v >= 0 else -1)


def activation_range(act: int, scale: float, zero_point: int, dtype: str) -> tuple[int, int]:
    """CalculateActivationRangeQuantized: the output type's range, narrowed by a fused activation
    (bounds quantized in float32, rounded half away from zero)."""
    lo, hi = _QRANGE[dtype]
    s = np.float32(scale)
    q = lambda v: zero_point + _tflite_round(float(np.float32(v) / s))  # noqa: E731
    if act == _ACT_NONE:
        return lo, hi
    if act == _ACT_RELU:
        return max(lo, q(0.0)), hi
    if act == _ACT_RELU6:
        return max(lo, q(0.0)), min(hi, q(6.0))
    if act == _ACT_RELU_N1_TO_1:
        return max(lo, q(-1.0)), min(hi, q(1.0))
    raise UnsupportedCombination(f"fused activation {act} is not supported by the C export")


def requantize_params(in_scale: float, in_zero_point: int, out_scale: float, out_zero_point: int) -> dict[str, int]:
    """QUANTIZE between integer types (PrepareQuantizeReference): input_scale / output_scale, in double
    from the float32 scales, as one multiplier and shift (a left shift when the ratio is >= 1)."""
    m, s = quantize_multiplier(float(in_scale) / float(out_scale))
    return {"input_offset": -int(in_zero_point), "output_offset": int(out_zero_point), "multiplier": m, "shift": s}


def mul_s16_params(s1: float, s2: float, s_out: float) -> tuple[int, int]:
    """int16 MUL (CalculateOpDataMul): (input1_scale * input2_scale) / output_scale in double."""
    return quantize_multiplier(float(s1) * float(s2) / float(s_out))


#: TFLite's left shift for quantized ADD/SUB: inputs are moved onto a 2^-20 (int8) or 2^-15 (int16) grid
ADD_LEFT_SHIFT = {"int8": 20, "int16": 15}


def add_params(s1: float, s2: float, s_out: float, dtype: str) -> dict[str, int]:
    """Quantized ADD (CalculateOpDataAdd), the general path: each input scaled by its scale over twice
    the larger input scale, the sum by that over 2^left_shift * output_scale; all three multipliers
    are < 1 (QuantizeMultiplierSmallerThanOneExp)."""
    left_shift = ADD_LEFT_SHIFT[dtype]
    twice_max = 2.0 * float(max(np.float32(s1), np.float32(s2)))
    m1, sh1 = quantize_multiplier_smaller_than_one(float(s1) / twice_max)
    m2, sh2 = quantize_multiplier_smaller_than_one(float(s2) / twice_max)
    mo, sho = quantize_multiplier_smaller_than_one(twice_max / ((1 << left_shift) * float(s_out)))
    return {"left_shift": left_shift, "input1_multiplier": m1, "input1_shift": sh1,
            "input2_multiplier": m2, "input2_shift": sh2, "output_multiplier": mo, "output_shift": sho}


def activation_range_f32(act: int) -> tuple[float, float]:
    big = float(np.finfo(np.float32).max)
    return {_ACT_NONE: (-big, big), _ACT_RELU: (0.0, big), _ACT_RELU6: (0.0, 6.0),
            _ACT_RELU_N1_TO_1: (-1.0, 1.0)}.get(act) or _bad_act(act)


def _bad_act(act: int) -> tuple[float, float]:
    raise UnsupportedCombination(f"fused activation {act} is not supported by the C export")


#: padding codes of the TFLite schema
PADDING_SAME, PADDING_VALID = 0, 1


def conv_padding(padding: int, in_len: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """(output length, padding before the first element) along one axis, as TFLite's
    ComputePaddingHeightWidth: SAME (schema code 0) outputs ceil(in / stride) and pads
    total = max((out - 1) * stride + effective kernel - in, 0), floor(total / 2) of it before;
    VALID (code 1) outputs ceil((in - effective kernel + 1) / stride) with no padding."""
    effective = (kernel - 1) * dilation + 1
    if padding == PADDING_SAME:
        out = (in_len + stride - 1) // stride
    elif padding == PADDING_VALID:
        out = (in_len - effective + stride) // stride
    else:
        raise UnsupportedCombination(f"padding code {padding} is not supported by the C export (SAME or VALID)")
    total = max((out - 1) * stride + effective - in_len, 0)
    return out, total // 2


def per_channel_multipliers(input_scale: float, filter_scales: np.ndarray, output_scale: float,
                            channels: int) -> tuple[list[int], list[int]]:
    """Per output channel requantization of a convolution (PopulateConvolutionQuantizationParams):
    input_scale * filter_scale[c] / output_scale in double from the float32 scales; a per-tensor
    filter scale is repeated for every channel."""
    scales = np.asarray(filter_scales, np.float32).reshape(-1)
    if scales.size not in (1, channels):
        raise UnsupportedCombination(f"{scales.size} filter scales for {channels} output channels")
    pairs = [quantize_multiplier(float(input_scale) * float(scales[c if scales.size > 1 else 0]) / float(output_scale))
             for c in range(channels)]
    return [m for m, _ in pairs], [s for _, s in pairs]


def mean_params(input_scale: float, input_zero_point: int, output_scale: float, output_zero_point: int,
                count: int) -> dict[str, int]:
    """int8 MEAN as TFLite Micro computes it for our shapes (QuantizedMeanOrSum), whatever the scales: also
    with the same scale and zero point in and out (checked against the interpreter: not the truncated plain
    mean). The multiplier of input_scale / output_scale (QuantizeMultiplier in double) absorbs 1/count:
    with s = min(floor(log2(count)), 32, 31 + shift), multiplier' = (multiplier << s) // count and
    shift' = shift - s; the output is clamp(requant(sum - input_zero_point * count) + output_zero_point)."""
    m, shift = quantize_multiplier(float(np.float32(input_scale)) / float(np.float32(output_scale)))
    s = min(count.bit_length() - 1, 32, 31 + shift)  # 63 - CountLeadingZeros(count), clamped
    m, shift = (m << s) // count, shift - s  # int64 division of non-negative values: floor = truncation
    return {"input_zero_point": int(input_zero_point), "multiplier": int(m), "shift": int(shift),
            "output_offset": int(output_zero_point)}
