"""BATCH_MATMUL of two activations: attention pooling's softmax weights (1, T) times the sequence
(T, units) (edgelstm.layers.attention). Batch dimensions must match (no broadcasting); adj_x / adj_y
say an operand is stored transposed."""
from __future__ import annotations

from ...errors import UnsupportedCombination
from ..cformat import c_struct
from ..quantparams import quantize_multiplier
from ..kernels import call
from . import Context, Emitted, handler


def _geometry(ctx: Context, op) -> list[tuple[str, int]]:
    g = ctx.graph
    a, r, y = g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.outputs[0])
    if a.is_const or r.is_const:
        raise UnsupportedCombination("BATCH_MATMUL with a constant operand is not supported by the C export")
    adj_x = bool(getattr(op.options, "adjX", False))
    adj_y = bool(getattr(op.options, "adjY", False))
    if len(a.shape) < 2 or len(r.shape) < 2:
        raise UnsupportedCombination(f"BATCH_MATMUL of {list(a.shape)} x {list(r.shape)}: operands of rank 2 to 4")
    rows, depth = (a.shape[-1], a.shape[-2]) if adj_x else (a.shape[-2], a.shape[-1])
    depth_r, cols = (r.shape[-1], r.shape[-2]) if adj_y else (r.shape[-2], r.shape[-1])
    batches = a.size // (rows * depth)
    if depth != depth_r or r.size != batches * depth * cols or y.size != batches * rows * cols:
        raise UnsupportedCombination(f"BATCH_MATMUL of {list(a.shape)} x {list(r.shape)} -> {list(y.shape)} "
                                     "broadcasts its batch dimensions, which the C export does not")
    return [("batches", batches), ("rows", rows), ("depth", depth), ("cols", cols), ("adj_x", int(adj_x)),
            ("adj_y", int(adj_y))]


def _shape_note(fields: list[tuple[str, int]]) -> str:
    f = dict(fields)
    return f"BATCH_MATMUL: {f['batches']} x ({f['rows']} x {f['depth']}) times ({f['depth']} x {f['cols']})"


@handler("BATCH_MATMUL", "int8")
def batch_matmul_s8(ctx: Context, op) -> Emitted:
    g = ctx.graph
    a, r, y = g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.outputs[0])
    fields = _geometry(ctx, op)
    m, s = quantize_multiplier(a.q_scale * r.q_scale / y.q_scale)
    name = ctx.op_name(op)
    defs = c_struct("el_batch_matmul_s8_t", name, fields + [
        ("lhs_offset", -a.q_zero_point), ("rhs_offset", -r.q_zero_point), ("output_offset", y.q_zero_point),
        ("multiplier", m), ("shift", s)], _shape_note(fields))
    return Emitted.of(defs, call("batch_matmul_s8", f"&{name}", ctx.ptr(op.inputs[0]), ctx.ptr(op.inputs[1]),
                                 ctx.ptr(op.outputs[0])))


@handler("BATCH_MATMUL", "float32")
def batch_matmul_f32(ctx: Context, op) -> Emitted:
    fields = _geometry(ctx, op)
    name = ctx.op_name(op)
    defs = c_struct("el_batch_matmul_f32_t", name, fields, _shape_note(fields))
    return Emitted.of(defs, call("batch_matmul_f32", f"&{name}", ctx.ptr(op.inputs[0]), ctx.ptr(op.inputs[1]),
                                 ctx.ptr(op.outputs[0])))
