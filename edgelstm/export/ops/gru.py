"""GRU_STEP: one int8 GRU layer of the lowered step graph, fused by export/fusion.py, run by
gru_step_s8 (el_gru_s8.h) with the parameters export/gru_s8.py precomputed."""
from __future__ import annotations

from ..kernels import call
from . import Context, Emitted, handler


@handler("GRU_STEP", "int8")
def gru_step_s8(ctx: Context, op) -> Emitted:
    p = op.options.params
    name = ctx.op_name(op)
    defs = '#include "el_gru_s8.h"\n\n' if ctx.first_use("el_gru_s8.h") else ""
    defs += p.c_definitions(name)
    work_words = (p.work_bytes + 3) // 4
    work = ctx.scratch("int32_t", work_words)  # the kernel's work buffer: not carried between steps
    return Emitted.of(defs, call("gru_step_s8", f"&{name}", ctx.ptr(op.inputs[0]), ctx.ptr(op.inputs[1]),
                                 ctx.ptr(op.outputs[0]), work, scratch_bytes=p.work_bytes))
