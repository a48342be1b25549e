"""Attention pooling over time, read from the functional-API block that spells it:

    h (T, U) --+--> Dense ... Dense(1) --> [Flatten/Reshape/Permute] --> Softmax over time --> [glue] --+
               |                                                                                       v
               +------------------------------------------------------------------------> Dot(axes=1) / Multiply
                                                                                                       |
                                                        [Flatten/Reshape]  or  GlobalAveragePooling1D <+
    s_t = score(h_t)    a = softmax_t(s)    y = sum_t a_t h_t   (GlobalAveragePooling1D: divided by T)

The loader (``collapse``) replaces the block's Keras layers by one ``AttentionPoolLayer``; the
glue layers only move data and the numeric check at load proves the reading (edgelstm.load).

Lowered (unrolled graphs, GRU models): per step the score Dense stack (tags ``<l>.s<k>.fc``/``.act``),
``<l>.scores`` = CONCAT of the T scores (1, T), ``<l>.weights`` = SOFTMAX, ``<l>.pool`` = the weights
(1, T) times the concatenated sequence (T, U): one BATCH_MATMUL (then a MUL by 1/T for the mean form).
The tf_keras clone computes the same in one custom layer: FULLY_CONNECTED over the (T, U) sequence,
RESHAPE, SOFTMAX, BATCH_MATMUL. Not streamable: the weights need every step of the window.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ModelError
from ..ir import AttentionPoolLayer, DenseLayer
from . import kind_of, register
from .common import activation, activation_name, keras_config
from .dense import DENSE

MERGES = ("Dot", "Multiply")
GLUE = ("Flatten", "Reshape", "Permute", "RepeatVector")
PASS_THROUGH = ("Dropout", "SpatialDropout1D", "GaussianDropout", "GaussianNoise")
BLOCK_SHAPE = ("attention pooling: Dense score(s) ending in Dense(1) -> Softmax over time -> Dot(axes=1) with the "
               "sequence (or Multiply, then GlobalAveragePooling1D); Flatten/Reshape/Permute/RepeatVector as glue")


@dataclass(eq=False)
class Block:
    """The Keras layers of one attention pooling block, in graph order."""

    source: Any  # the layer whose sequence is pooled
    score: list  # Dense / TimeDistributed(Dense) layers before the softmax
    softmax: Any
    merge: Any  # Dot or Multiply
    mean: bool  # Multiply followed by GlobalAveragePooling1D
    covered: list = field(default_factory=list)  # every Keras layer the block replaces

    @property
    def name(self) -> str:
        return self.merge.name


def _inbound(layer: Any, model_nodes: Any) -> list:
    """The layers feeding ``layer`` in this model's graph (Keras 3 and tf_keras functional graphs; a layer
    object also used in another model has nodes there too)."""
    nodes = [n for n in getattr(layer, "_inbound_nodes", []) if model_nodes is None or _node_key(n) in model_nodes]
    if len(nodes) > 1:
        raise ModelError(f"layer '{layer.name}' is called {len(nodes)} times (a shared layer); edgelstm reads each "
                         "layer once: give every call its own layer")
    if not nodes:
        return []
    node = nodes[0]
    parents = [p.operation if hasattr(p, "operation") else p.layer  # Keras 3 / tf_keras
               for p in node.parent_nodes]
    return list({id(p): p for p in parents}.values())  # once each (Masking feeds an RNN its inputs and its mask)


def _is_softmax(layer: Any) -> bool:
    cls = type(layer).__name__
    return cls == "Softmax" or (cls == "Activation" and activation_name(keras_config(layer).get("activation")) == "softmax")


def _shape(tensor: Any) -> tuple:
    return tuple(tensor.shape)


def _node_key(node: Any) -> Any:
    return id(node)


def _model_nodes(model: Any) -> set | None:
    """The ids of the graph nodes that belong to ``model`` (None when the model does not say)."""
    by_depth = getattr(model, "_nodes_by_depth", None)  # Keras 3 and tf_keras functional models: {depth: [nodes]}
    if by_depth is None:
        return None
    return {_node_key(n) for group in by_depth.values() for n in group}


def collapse(model: Any) -> list:
    """``model.layers`` (graph order) with every attention block replaced by its Block; a Sequential model
    (or a functional one that is a plain chain) as it is."""
    layers = list(model.layers)
    if type(model).__name__ == "Sequential":
        return layers
    model_nodes = _model_nodes(model)
    known = {id(l) for l in layers}  # operations that are no layer (Keras 3 computes a mask with ops.any) drop out
    ins = {id(l): [p for p in _inbound(l, model_nodes) if id(p) in known] for l in layers}
    outs: dict[int, list] = defaultdict(list)
    for l in layers:
        for p in ins[id(l)]:
            outs[id(p)].append(l)
    if all(len(v) <= 1 for v in ins.values()) and all(len(v) <= 1 for v in outs.values()):
        return list(layers)
    items: list = []
    covered: set[int] = set()
    for l in layers:
        if id(l) in covered:
            continue
        if len(ins[id(l)]) > 1:
            raise ModelError(f"layer '{l.name}' ({type(l).__name__}) merges {len(ins[id(l)])} branches outside the "
                             f"one branching block edgelstm reads ({BLOCK_SHAPE})")
        items.append(l)
        if len(outs[id(l)]) > 1:
            block = _match(l, ins, outs)
            items.append(block)
            covered |= {id(x) for x in block.covered}
    return items


def _match(source: Any, ins: dict, outs: dict) -> Block:
    consumers = outs[id(source)]
    merges = [c for c in consumers if type(c).__name__ in MERGES and len(ins[id(c)]) == 2]
    where = f"layer '{source.name}' feeds {len(consumers)} layers ({', '.join(c.name for c in consumers)})"
    if len(consumers) != 2 or len(merges) != 1:
        raise ModelError(f"{where}; the one branching block edgelstm reads is {BLOCK_SHAPE}")
    merge = merges[0]
    path, x = [], next(c for c in consumers if c is not merge)
    while x is not merge:
        path.append(x)
        nxt = outs[id(x)]
        if len(nxt) != 1 or len(ins[id(x)]) != 1:
            raise ModelError(f"{where}; layer '{x.name}' branches inside the block; expected {BLOCK_SHAPE}")
        x = nxt[0]
    score, softmax = [], None
    for l in path:
        cls = type(l).__name__
        if cls in PASS_THROUGH:
            continue
        if softmax is None and cls in ("Dense", "TimeDistributed") and not any(type(p).__name__ in GLUE for p in path[:path.index(l)]):
            score.append(l)
        elif softmax is None and _is_softmax(l):
            softmax = l
        elif cls in GLUE and (softmax is not None or score):
            continue
        else:
            raise ModelError(f"layer '{l.name}' ({cls}) in the attention block of '{source.name}' is not part of "
                             f"{BLOCK_SHAPE}")
    if softmax is None or not score:
        raise ModelError(f"{where} without a Dense score and a Softmax on the way to '{merge.name}'; expected "
                         f"{BLOCK_SHAPE}")
    _check_softmax_over_time(softmax)
    covered = path + [merge]
    tail = outs[id(merge)]
    mean = False
    if type(merge).__name__ == "Multiply":
        if len(tail) != 1 or type(tail[0]).__name__ != "GlobalAveragePooling1D":
            raise ModelError(f"layer '{merge.name}' (Multiply) weighs the sequence but no GlobalAveragePooling1D sums "
                             "it over time; follow it with GlobalAveragePooling1D, or use Dot(axes=1)")
        covered.append(tail[0])
        mean = True
    else:
        axes = keras_config(merge).get("axes")
        if axes not in (1, [1, 1], (1, 1)):
            raise ModelError(f"layer '{merge.name}' is Dot(axes={axes}); attention pooling sums over time: "
                             "Dot(axes=1)")
        if len(_shape(merge.output)) == 3 and len(tail) == 1 and type(tail[0]).__name__ in ("Flatten", "Reshape"):
            covered.append(tail[0])  # (1, U) -> (U,)
    return Block(source, score, softmax, merge, mean, covered)


def _check_softmax_over_time(softmax: Any) -> None:
    shape = _shape(softmax.input)
    axis = keras_config(softmax).get("axis", -1)
    axis = axis[0] if isinstance(axis, (list, tuple)) and len(axis) == 1 else axis
    if not isinstance(axis, int) or axis % len(shape) != 1 or (len(shape) == 3 and shape[2] != 1):
        raise ModelError(f"layer '{softmax.name}' applies softmax over axis {axis} of a {shape[1:]} score tensor; "
                         "attention pooling weighs timesteps: scores of shape (T, 1) with Softmax(axis=1), or "
                         "Flatten then Softmax()")


class AttentionKind:
    type = "attention"
    keras_classes: tuple[str, ...] = ()  # read from a Block, not from one Keras class

    def parse(self, ctx: Any, block: Block) -> AttentionPoolLayer:
        if not ctx.is_seq:
            raise ModelError(f"attention block '{block.name}' pools a layer that returns no sequence; use "
                             "return_sequences=True on the layer before it")
        score: list[DenseLayer] = []
        size = ctx.input_size
        for k, l in enumerate(block.score):
            d = DENSE.parse(_Ctx(ctx.index, size, True), l)
            score.append(d)
            size = d.units
        if size != 1:
            raise ModelError(f"the score of attention block '{block.name}' ends in {size} units; end it in Dense(1)")
        return AttentionPoolLayer(block.name, ctx.input_size, tuple(score), block.mean)

    def forward(self, layer: AttentionPoolLayer, seq: np.ndarray, is_seq: bool) -> tuple[np.ndarray, bool]:
        s = seq
        for d in layer.score:
            s = activation(d.activation, s @ d.kernel + d.bias)
        a = activation("softmax", s[:, 0])
        y = a @ seq
        return (y / len(seq) if layer.mean else y), False

    def lower(self, be: Any, layer: AttentionPoolLayer, tag: str, seq: list, is_seq: bool, zeros: Any) -> tuple[list, bool]:
        scores = list(seq)
        for k, d in enumerate(layer.score):
            scores, _ = kind_of(d).lower(be, d, f"{tag}.s{k}", scores, True, zeros)
        weights = be.activation(be.concat(scores, f"{tag}.scores"), "softmax", f"{tag}.weights")
        y = be.weighted_sum(weights, seq, f"{tag}.pool")
        if layer.mean:
            y = be.scale(y, 1.0 / len(seq), f"{tag}.mean")
        return [y], False

    def step(self, be: Any, layer: AttentionPoolLayer, tag: str, x: Any, states: list) -> tuple[Any, list]:
        raise ValueError("attention pooling weighs the whole window (no streaming step)")

    def state_tags(self, layer: AttentionPoolLayer, tag: str) -> list[tuple[str, int]]:
        return []

    def tf_keras(self, K: Any, layer: AttentionPoolLayer, stateful: bool) -> tuple[list, list]:
        from ..lower.tf_attention import attention_pool

        weights: list = []
        for d in layer.score:
            weights += [d.kernel, d.bias]
        return [attention_pool(K, layer)], weights

    def count(self, layer: AttentionPoolLayer, seq_len: int, in_is_seq: bool, quant: str) -> dict:
        from ..profile import counts as C

        s = C.STORAGE[quant]
        u, t = layer.input_size, seq_len
        score_macs = sum(d.input_size * d.units for d in layer.score)
        macs = t * score_macs + t * u  # the scores, then the weighted sum
        ew = C.zero_ops()
        ew["bias_add"] = t * sum(d.units for d in layer.score)
        for d in layer.score:
            if d.activation in ("sigmoid", "tanh", "relu"):
                ew[d.activation] += t * d.units
        ew["softmax"] = t
        if layer.mean:
            ew["mul"] = u
        n_w = sum(int(d.kernel.size) for d in layer.score)
        n_b = sum(int(d.bias.size) for d in layer.score)
        qparams = 0 if quant.startswith("float") else sum(d.units for d in layer.score) * C.QPARAM_BYTES_PER_CHANNEL
        return dict(mean=layer.mean, calls=1, gates={}, macs_per_step=0, macs_per_call=macs, macs=macs,
                    elementwise_per_call=ew, elementwise=ew,
                    storage={"weights": n_w, "biases": n_b, "weight_bytes": int(n_w * s["weight"]),
                             "bias_bytes": int(n_b * s["bias"]), "qparam_bytes": qparams},
                    weight_bytes=int(n_w * s["weight"] + n_b * s["bias"] + qparams),
                    state_bytes=0, scratch_bytes=0, output_is_sequence=False)

    def weights(self, layer: AttentionPoolLayer, prefix: str) -> list[tuple[str, np.ndarray]]:
        return [(f"{prefix}_score{k}_w", np.asarray(d.kernel).T) for k, d in enumerate(layer.score)]


@dataclass(frozen=True)
class _Ctx:
    index: int
    input_size: int
    is_seq: bool


ATTENTION = register(AttentionKind())
