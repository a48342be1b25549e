"""Graph pass before C generation: groups of ops that one fused kernel computes.

Today: the 16 ops of one lowered int8 GRU layer (lower/cells.py: per gate FULLY_CONNECTED on x and
on h, ADD, LOGISTIC/TANH, the reset MUL, then SUB, MUL, ADD for the new state) become one
``GRU_STEP`` op, emitted by ops/gru.py as one ``gru_step_s8`` call. The ops are recognised by the
tags their output tensors carry (lower.tags: 'l0.update.x' in a one-step graph, 'l0.update.x@3'
in a sequence graph), then every connection, type and quantization the kernel relies on is
checked; a group that does not match exactly, or whose parameters the kernel cannot hold
(gru_s8.NotFusable), stays op by op. The fused op replaces the layer's last op (the state
update, which depends on all the others); the other ops become ``ABSORBED`` placeholders, so
op indices (which handlers use to cut one-op models) and the op count stay as they were.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from types import SimpleNamespace
from typing import Any

import numpy as np

from ..lower.tags import parse_tensor_name
from .graph import Graph, Op

GRU_STEP = "GRU_STEP"
FUSED_KINDS = (GRU_STEP,)
ABSORBED = "ABSORBED"  # an op computed inside a fused op: the generator skips it

_FC = ("update.x", "reset.x", "candidate.x", "update.h", "reset.h", "candidate.h")
_ROLES = {"update.x": "FULLY_CONNECTED", "reset.x": "FULLY_CONNECTED", "candidate.x": "FULLY_CONNECTED",
          "update.h": "FULLY_CONNECTED", "reset.h": "FULLY_CONNECTED", "candidate.h": "FULLY_CONNECTED",
          "update.pre": "ADD", "update.act": "LOGISTIC", "reset.pre": "ADD", "reset.act": "LOGISTIC",
          "candidate.rh": "MUL", "candidate.pre": "ADD", "candidate.act": "TANH", "hn": "SUB", "zhn": "MUL"}


@dataclass
class FusedGru:
    """options of a GRU_STEP op."""

    tag: str  # 'l0' (or 'l0@3' in a sequence graph)
    c_name: str  # base of the C names, e.g. 'l0_gru'
    params: Any  # gru_s8.GruS8
    ops: list[int]  # indices of the ops it computes


class _Mismatch(Exception):
    pass


def fuse(graph: Graph) -> Graph:
    """The graph with every recognised GRU layer as one GRU_STEP op (int8 graphs; others unchanged)."""
    groups = _candidates(graph)
    if not groups:
        return graph
    ops = list(graph.ops)
    consumers = _consumers(graph)
    for (layer, step), roles in sorted(groups.items(), key=lambda kv: max(o.index for o in kv[1].values())):
        fused = _try_gru(graph, layer, step, roles, consumers)
        if fused is None:
            continue
        op, absorbed = fused
        for i in absorbed:
            ops[i] = Op(i, ABSORBED, [], [], None)
        ops[op.index] = op
    if all(a is b for a, b in zip(ops, graph.ops)):
        return graph
    return replace(graph, ops=ops)


def _candidates(g: Graph) -> dict[tuple[str, int], dict[str, Op]]:
    found: dict[tuple[str, int], dict[str, Op]] = {}
    for op in g.ops:
        if len(op.outputs) != 1:
            continue
        parsed = parse_tensor_name(g.t(op.outputs[0]).name)
        if parsed is None:
            continue
        tag, step = parsed
        layer, _, role = tag.partition(".")
        if role in _ROLES:
            roles = found.setdefault((layer, step), {})
            if role in roles:  # two ops claim one tag: not a graph we understand
                roles["__dup__"] = op
            roles[role] = op
    return {k: v for k, v in found.items() if "__dup__" not in v and len(v) == len(_ROLES)}


def _consumers(g: Graph) -> dict[int, list[Op]]:
    out: dict[int, list[Op]] = {}
    for op in g.ops:
        for i in op.inputs:
            if i >= 0:
                out.setdefault(i, []).append(op)
    return out


def _try_gru(g: Graph, layer: str, step: int, roles: dict[str, Op],
             consumers: dict[int, list[Op]]) -> tuple[Op, list[int]] | None:
    from .gru_s8 import NotFusable, prepare

    try:
        ops, x, h, final = _match(g, roles, consumers)
        params = prepare(ops)
    except (_Mismatch, NotFusable):
        return None
    absorbed = sorted(o.index for o in roles.values())
    tag = layer if step == 0 else f"{layer}@{step}"
    name = f"{layer}_gru" if step == 0 else f"{layer}_gru_t{step}"
    fused = Op(final.index, GRU_STEP, [x, h], list(final.outputs), FusedGru(tag, name, params, absorbed + [final.index]))
    return fused, absorbed


def _need(cond: bool) -> None:
    if not cond:
        raise _Mismatch()


def _act_none(op: Op) -> bool:
    return int(getattr(op.options, "fusedActivationFunction", 0) or 0) == 0


def _match(g: Graph, roles: dict[str, Op], consumers: dict[int, list[Op]]):
    """Check the group against the lowered GRU exactly; return (GruOps, x, h, final op)."""
    from .gru_s8 import Fc, GruOps, Q

    for role, kind in _ROLES.items():
        _need(roles[role].kind == kind)
    out = {role: roles[role].outputs[0] for role in _ROLES}
    fcs = {k: roles[k] for k in _FC}
    x = fcs["update.x"].inputs[0]
    h = fcs["update.h"].inputs[0]
    _need(x >= 0 and h >= 0 and x != h)
    _need(all(fcs[k].inputs[0] == x for k in ("reset.x", "candidate.x")))
    _need(fcs["reset.h"].inputs[0] == h)
    cand_in = fcs["candidate.h"].inputs[0]
    reset_after = cand_in == h
    _need(reset_after or cand_in == out["candidate.rh"])
    for t in (x, h):
        _need(not g.t(t).is_const and g.t(t).dtype == "int8" and g.t(t).scale.size == 1)

    def two(role: str, a: int, b: int) -> None:
        _need(sorted(roles[role].inputs[:2]) == sorted([a, b]) and len(roles[role].inputs) == 2)

    two("update.pre", out["update.x"], out["update.h"])
    two("reset.pre", out["reset.x"], out["reset.h"])
    _need(roles["update.act"].inputs == [out["update.pre"]] and roles["reset.act"].inputs == [out["reset.pre"]])
    two("candidate.rh", out["reset.act"], out["candidate.h"] if reset_after else h)
    two("candidate.pre", out["candidate.x"], out["candidate.rh"] if reset_after else out["candidate.h"])
    _need(roles["candidate.act"].inputs == [out["candidate.pre"]])
    _need(roles["hn"].inputs == [h, out["candidate.act"]])
    two("zhn", out["update.act"], out["hn"])
    finals = [op for op in consumers.get(out["zhn"], [])]
    _need(len(finals) == 1 and finals[0].kind == "ADD" and len(finals[0].outputs) == 1)
    final = finals[0]
    two_final = sorted(final.inputs[:2]) == sorted([out["candidate.act"], out["zhn"]]) and len(final.inputs) == 2
    _need(two_final)
    # intermediates are read only inside the group and are not graph outputs
    group = {id(op) for op in roles.values()} | {id(final)}
    for role, t in out.items():
        _need(t not in g.outputs)
        _need(all(id(c) in group for c in consumers.get(t, [])))
    # element types, quantization, shapes, no fused activations
    units = g.t(out["update.h"]).size
    in_size = g.t(x).size
    _need(g.t(h).size == units)
    for op in list(roles.values()) + [final]:
        _need(op.kind in ("LOGISTIC", "TANH") or _act_none(op))
        for t in [i for i in op.inputs[:2] if i >= 0] + op.outputs:
            tt = g.t(t)
            if op.kind == "FULLY_CONNECTED" and t != op.inputs[0] and t not in op.outputs:
                continue
            _need(tt.dtype == "int8" and tt.scale.size == 1 and not tt.is_const)
            _need(tt.size == (in_size if t == x else units))

    def q(t: int) -> Q:
        tt = g.t(t)
        return Q(tt.q_scale, tt.q_zero_point)

    fc = {}
    for k, op in fcs.items():
        w = g.t(op.inputs[1])
        b = g.t(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
        cols = in_size if k.endswith(".x") else units
        _need(w.data is not None and w.dtype == "int8" and w.shape == (units, cols))
        _need(w.zero_point.size == 0 or not np.any(w.zero_point != 0))
        _need(w.scale.size in (1, units))
        _need(b is None or (b.data is not None and b.dtype == "int32" and b.size == units))
        _need(int(getattr(op.options, "weightsFormat", 0) or 0) == 0)
        fc[k] = Fc(w.data.reshape(units, cols), np.asarray(w.scale, np.float32), None if b is None else
                   b.data.reshape(units), q(op.inputs[0]), q(op.outputs[0]))
    qs = {"h": q(h), "h_out": q(final.outputs[0])}
    for role in ("update.pre", "update.act", "reset.pre", "reset.act", "candidate.rh", "candidate.pre",
                 "candidate.act", "hn", "zhn"):
        qs[role] = q(out[role])
    # the state output shares h's grid in a step graph; the kernel does not rely on it
    ops = GruOps(reset_after, in_size, units, fc, qs, _lut(g, roles["update.act"]), _lut(g, roles["reset.act"]),
                 _lut(g, roles["candidate.act"]))
    return ops, x, h, final


def _lut(g: Graph, op: Op) -> np.ndarray:
    """TFLite Micro's LOGISTIC/TANH on every int8 input -128..127."""
    from .ops.activations import tflm_table

    tab = tflm_table(SimpleNamespace(graph=g), op)  # indexed by (uint8_t)x
    return np.concatenate([tab[128:], tab[:128]]).astype(np.int8)


# The handler of GRU_STEP registers on import.
from .ops import gru as _gru  # noqa: F401
