"""CONV_2D as TFLite writes a Keras Conv1D: NHWC tensors with one spatial axis of length 1 (the
converter puts time on W for the convolution), filters [out, 1, kernel, in] (or [out, kernel, 1, in]),
stride, dilation, SAME/VALID padding, a fused RELU or none. The kernel runs along the time axis;
out_len and pad come from quantparams.conv_padding (TFLite's ComputePaddingHeightWidth).

DEPTHWISE_CONV_2D as TFLite writes a Keras DepthwiseConv1D (and the depthwise half of a SeparableConv1D):
the same 1D geometry, filters [1, 1, kernel, in * depth_multiplier] (or [1, kernel, 1, ...]), output channel
c * depth_multiplier + m reading input channel c only."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import UnsupportedCombination
from ..cformat import c_array, c_struct
from ..graph import Op, Tensor
from ..quantparams import activation_range, activation_range_f32, conv_padding, per_channel_multipliers
from ..kernels import call
from . import Context, Emitted, handler


@dataclass
class Conv1D:
    in_len: int
    in_ch: int
    out_len: int
    out_ch: int
    kernel: int
    stride: int
    dilation: int
    pad: int

    def full_outputs(self) -> tuple[int, int]:
        """[first, last): the outputs whose every tap lies inside the input (a contiguous run)."""
        full = [t for t in range(self.out_len)
                if t * self.stride - self.pad >= 0
                and t * self.stride - self.pad + (self.kernel - 1) * self.dilation < self.in_len]
        return (full[0], full[-1] + 1) if full else (0, 0)

    def c_fields(self) -> list[tuple[str, object]]:
        """The geometry fields of el_conv_s8_t / el_conv_f32_t (designated initializers)."""
        return [("in_len", self.in_len), ("in_ch", self.in_ch), ("out_len", self.out_len), ("out_ch", self.out_ch),
                ("kernel", self.kernel), ("stride", self.stride), ("dilation", self.dilation), ("pad", self.pad)]


def time_axis(op: Op, x: Tensor, y: Tensor, window: tuple[int, int]) -> int:
    """1 (H) or 2 (W): the spatial axis of an NHWC tensor that holds time; the other axis must
    have length 1 in, out and in the window (kernel or pool size): a 1D op."""
    if len(x.shape) != 4 or len(y.shape) != 4 or x.shape[0] != 1:
        raise UnsupportedCombination(f"{op.kind} on a {list(x.shape)} input: the C export handles batch 1 NHWC")
    for axis, other in ((2, 1), (1, 2)):
        if x.shape[other] == 1 and y.shape[other] == 1 and window[other - 1] == 1:
            return axis
    raise UnsupportedCombination(f"{op.kind} over two spatial axes ({list(x.shape)} -> {list(y.shape)}, window "
                                 f"{list(window)}): the C export handles the 1D form of Conv1D and pooling over time")


def _geometry(ctx: Context, op: Op) -> tuple[Tensor, Tensor, Tensor, Tensor | None, Conv1D]:
    g = ctx.graph
    x, w, y = g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.outputs[0])
    b = g.t(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
    if not w.is_const or (b is not None and not b.is_const):
        raise UnsupportedCombination("CONV_2D with non-constant filters or bias is not supported by the C export")
    out_ch, kh, kw, in_ch = w.shape
    if in_ch != x.shape[3]:
        raise UnsupportedCombination(f"grouped CONV_2D ({x.shape[3]} input channels, filters of {in_ch}) is not "
                                     "supported by the C export")
    o = op.options
    axis = time_axis(op, x, y, (kh, kw))
    stride = int(o.strideW if axis == 2 else o.strideH)
    dilation = int((o.dilationWFactor if axis == 2 else o.dilationHFactor) or 1)
    kernel = kw if axis == 2 else kh
    out_len, pad = conv_padding(int(o.padding), x.shape[axis], kernel, stride, dilation)
    if out_len != y.shape[axis] or y.shape[3] != out_ch:
        raise UnsupportedCombination(f"CONV_2D output {list(y.shape)} is not what TFLite's padding gives "
                                     f"({out_len} steps of {out_ch}); re-convert the model with edgelstm convert")
    return x, w, y, b, Conv1D(x.shape[axis], in_ch, out_len, out_ch, kernel, stride, dilation, pad)


def _act(op: Op) -> int:
    return int(getattr(op.options, "fusedActivationFunction", 0) or 0)


@handler("CONV_2D", "int8")
def conv_s8(ctx: Context, op: Op) -> Emitted:
    x, w, y, b, geo = _geometry(ctx, op)
    weights = w.data.reshape(geo.out_ch, geo.kernel * geo.in_ch)
    return _emit_s8(ctx, op, (x, w, y, b), geo, weights, 1, f"{geo.out_ch} x {geo.kernel} x {geo.in_ch} int8 filters "
                    "(Conv1D)", "el_conv_s8_t", geo.c_fields(), _geometry_comment(geo), "conv_s8")


def _emit_s8(ctx: Context, op: Op, tensors: tuple[Tensor, Tensor, Tensor, Tensor | None], geo: Conv1D,
             weights: np.ndarray, sum_axis: int, filters_note: str, ctype: str, fields: list[tuple[str, object]],
             comment: str, kernel: str) -> Emitted:
    """The int8 CONV_2D / DEPTHWISE_CONV_2D parameters: filters (``weights``: one output channel's taps summed
    along ``sum_axis``), bias, the bias with the input zero point folded in (outputs that read no padding),
    per-channel requantization (Q0.31 multiplier, shift), then the kernel's struct and call."""
    x, w, y, b = tensors
    if x.dtype != "int8" or w.dtype != "int8":
        raise UnsupportedCombination(f"{op.kind} with {x.dtype} input and {w.dtype} filters is not supported "
                                     "by the C export (int8 x int8)")
    if np.any(w.zero_point != 0):
        raise UnsupportedCombination(f"{op.kind} int8 with asymmetric filters is not supported by the C export")
    mults, shifts = per_channel_multipliers(x.q_scale, w.scale, y.q_scale, geo.out_ch)
    lo, hi = activation_range(_act(op), y.q_scale, y.q_zero_point, "int8")
    bias = b.data.astype(np.int64).reshape(-1) if b is not None else np.zeros(geo.out_ch, np.int64)
    # outputs whose window lies inside the input: the zero point folded into the bias (exact integers)
    folded = bias - x.q_zero_point * weights.astype(np.int64).sum(axis=sum_axis)
    if np.abs(folded).max(initial=0) >= 2**31:
        raise UnsupportedCombination(f"{op.kind}: the bias with the input zero point folded in overflows int32")
    first, last = geo.full_outputs()
    name = ctx.op_name(op)
    per_channel = w.scale.size > 1
    defs = c_array(f"{name}_w", weights, f"{filters_note}, scale "
                   f"{'per output channel' if per_channel else f'{w.q_scale:.6g}'}")
    defs += c_array(f"{name}_b", bias.astype(np.int32), f"{geo.out_ch} int32 bias, scale input x filter"
                    + ("" if b is not None else " (the model has none)"))
    defs += c_array(f"{name}_bf", folded.astype(np.int32), f"the bias with input zero point {x.q_zero_point} folded "
                    "in: outputs that read no padding")
    defs += c_array(f"{name}_mult", np.array(mults, np.int32), "requantization multipliers per output channel (Q0.31)")
    defs += c_array(f"{name}_shift", np.array(shifts, np.int32), "requantization shifts per output channel")
    defs += c_struct(ctype, name, fields + [
        ("first_full", first), ("last_full", last), ("weights", f"{name}_w"), ("bias", f"{name}_b"),
        ("bias_folded", f"{name}_bf"), ("multiplier", f"{name}_mult"), ("shift", f"{name}_shift"),
        ("input_offset", -x.q_zero_point), ("output_offset", y.q_zero_point), ("act_min", lo), ("act_max", hi)],
        comment)
    return Emitted.of(defs, call(kernel, f"&{name}", ctx.ptr(op.inputs[0]), ctx.ptr(op.outputs[0])))


def _geometry_comment(geo: Conv1D) -> str:
    return (f"Conv1D: {geo.in_len} steps x {geo.in_ch} -> {geo.out_len} x {geo.out_ch}, kernel {geo.kernel}, "
            f"stride {geo.stride}, dilation {geo.dilation}, {geo.pad} padded step(s) before")


def c_float_limits(lo: float, hi: float) -> tuple[str, str]:
    big = float(np.finfo(np.float32).max)
    fmt = lambda v: "FLT_MAX" if v == big else ("-FLT_MAX" if v == -big else f"{v!r}f")  # noqa: E731
    return fmt(lo), fmt(hi)


@handler("CONV_2D", "float32")
def conv_f32(ctx: Context, op: Op) -> Emitted:
    x, w, y, b, geo = _geometry(ctx, op)
    if w.dtype != "float32":
        raise UnsupportedCombination(f"float CONV_2D with {w.dtype} filters (hybrid) is not supported by the C export")
    lo, hi = c_float_limits(*activation_range_f32(_act(op)))
    name = ctx.op_name(op)
    defs = c_array(f"{name}_w", w.data.reshape(geo.out_ch, -1), f"{geo.out_ch} x {geo.kernel} x {geo.in_ch} "
                   "float filters (Conv1D)")
    bias = "0"
    if b is not None:
        bias = f"{name}_b"
        defs += c_array(bias, b.data.reshape(-1), f"{geo.out_ch} float bias")
    defs += c_struct("el_conv_f32_t", name, geo.c_fields() + [
        ("weights", f"{name}_w"), ("bias", bias), ("act_min", lo), ("act_max", hi)], _geometry_comment(geo))
    return Emitted.of(defs, call("conv_f32", f"&{name}", ctx.ptr(op.inputs[0]), ctx.ptr(op.outputs[0])))


# ---- DEPTHWISE_CONV_2D: Keras DepthwiseConv1D (and the depthwise half of a SeparableConv1D) -------------


def _dw_geometry(ctx: Context, op: Op) -> tuple[Tensor, Tensor, Tensor, Tensor | None, Conv1D, int]:
    """Tensors and 1D geometry of a DEPTHWISE_CONV_2D: filters [1, kh, kw, in_ch * depth_multiplier],
    output channel c * depth_multiplier + m reading input channel c; returns the depth multiplier too."""
    g = ctx.graph
    x, w, y = g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.outputs[0])
    b = g.t(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
    if not w.is_const or (b is not None and not b.is_const):
        raise UnsupportedCombination("DEPTHWISE_CONV_2D with non-constant filters or bias is not supported by the "
                                     "C export")
    if len(w.shape) != 4 or w.shape[0] != 1:
        raise UnsupportedCombination(f"DEPTHWISE_CONV_2D filters of shape {list(w.shape)}: the C export handles "
                                     "[1, kernel height, kernel width, channels]")
    _, kh, kw, out_ch = w.shape
    axis = time_axis(op, x, y, (kh, kw))
    in_ch = x.shape[3]
    o = op.options
    mult = int(o.depthMultiplier or 0)
    if mult < 1 or out_ch != in_ch * mult or y.shape[3] != out_ch:
        raise UnsupportedCombination(f"DEPTHWISE_CONV_2D with {in_ch} input channels, depth multiplier {mult}, "
                                     f"{out_ch} filter channels and {y.shape[3]} output channels: the C export needs "
                                     "output channels = input channels x depth multiplier; re-convert the model with "
                                     "edgelstm convert")
    stride = int(o.strideW if axis == 2 else o.strideH)
    dilation = int((o.dilationWFactor if axis == 2 else o.dilationHFactor) or 1)
    kernel = kw if axis == 2 else kh
    out_len, pad = conv_padding(int(o.padding), x.shape[axis], kernel, stride, dilation)
    if out_len != y.shape[axis]:
        raise UnsupportedCombination(f"DEPTHWISE_CONV_2D output {list(y.shape)} is not what TFLite's padding gives "
                                     f"({out_len} steps of {out_ch}); re-convert the model with edgelstm convert")
    return x, w, y, b, Conv1D(x.shape[axis], in_ch, out_len, out_ch, kernel, stride, dilation, pad), mult


def _dw_fields(geo: Conv1D, mult: int) -> list[tuple[str, object]]:
    """The geometry fields of el_dwconv_s8_t / el_dwconv_f32_t (designated initializers)."""
    return [("in_len", geo.in_len), ("in_ch", geo.in_ch), ("out_len", geo.out_len), ("depth_multiplier", mult),
            ("kernel", geo.kernel), ("stride", geo.stride), ("dilation", geo.dilation), ("pad", geo.pad)]


def _dw_comment(geo: Conv1D, mult: int) -> str:
    return (f"DepthwiseConv1D: {geo.in_len} steps x {geo.in_ch} -> {geo.out_len} x {geo.out_ch} (depth multiplier "
            f"{mult}), kernel {geo.kernel}, stride {geo.stride}, dilation {geo.dilation}, {geo.pad} padded step(s) "
            "before")


@handler("DEPTHWISE_CONV_2D", "int8")
def dwconv_s8(ctx: Context, op: Op) -> Emitted:
    x, w, y, b, geo, mult = _dw_geometry(ctx, op)
    weights = w.data.reshape(geo.kernel, geo.out_ch)
    return _emit_s8(ctx, op, (x, w, y, b), geo, weights, 0, f"{geo.kernel} x {geo.out_ch} int8 filters "
                    f"(DepthwiseConv1D, output channel c * {mult} + m reads input channel c)", "el_dwconv_s8_t",
                    _dw_fields(geo, mult), _dw_comment(geo, mult), "dwconv_s8")


@handler("DEPTHWISE_CONV_2D", "float32")
def dwconv_f32(ctx: Context, op: Op) -> Emitted:
    x, w, y, b, geo, mult = _dw_geometry(ctx, op)
    if w.dtype != "float32":
        raise UnsupportedCombination(f"float DEPTHWISE_CONV_2D with {w.dtype} filters (hybrid) is not supported by "
                                     "the C export")
    lo, hi = c_float_limits(*activation_range_f32(_act(op)))
    name = ctx.op_name(op)
    defs = c_array(f"{name}_w", w.data.reshape(geo.kernel, geo.out_ch), f"{geo.kernel} x {geo.out_ch} float filters "
                   f"(DepthwiseConv1D, output channel c * {mult} + m reads input channel c)")
    bias = "0"
    if b is not None:
        bias = f"{name}_b"
        defs += c_array(bias, b.data.reshape(-1), f"{geo.out_ch} float bias")
    defs += c_struct("el_dwconv_f32_t", name, _dw_fields(geo, mult) + [
        ("weights", f"{name}_w"), ("bias", bias), ("act_min", lo), ("act_max", hi)], _dw_comment(geo, mult))
    return Emitted.of(defs, call("dwconv_f32", f"&{name}", ctx.ptr(op.inputs[0]), ctx.ptr(op.outputs[0])))
