"""Exact operation and memory counts of a ModelDesc (pure math, no TensorFlow).

Everything is counted the way edgelstm's integer kernels (and TFLite Micro's
fused LSTM) execute it, per timestep of one direction of one layer; the
sequence totals multiply by T. Notation: i inputs, h units.

LSTM (gates input, forget, cell, output)::

    MACs           4h(i+h)      per gate: h*i input part + h*h recurrent part
    bias adds      4h           one bias per gate row (Keras has one bias vector)
    gate adds      4h           input part + recurrent part of each pre-activation
    sigmoid        3h           i, f, o
    tanh           2h           g and tanh(c)
    mul            3h           f*c, i*g, o*tanh(c)
    add            h            c = f*c + i*g

GRU (gates update z, reset r, candidate n), reset_after=True (Keras default)::

    MACs           3h(i+h)
    bias (Keras)   6h           input and recurrent bias for every gate
    bias adds      4h executed  z and r add (b_in + b_rec) pre-summed once at export;
                                n keeps both: b_in on W x, b_rec on U h (r multiplies U h + b_rec)
    gate adds      3h           W x + (U h) for z and r, W x + r*(U h + b_rec) for n
    sigmoid 2h, tanh h
    mul            2h           r*(U h + b_rec) and z*(h - n)
    sub h, add h                h' = n + z*(h - n)  (= z*h + (1-z)*n, one mul fewer)

GRU reset_after=False (Keras "v1")::

    MACs           3h(i+h)      the candidate's recurrent matmul runs on r*h
    bias adds      3h           a single bias vector
    gate adds 3h, sigmoid 2h, tanh h
    mul            2h           r*h before the matmul, z*(h - n)
    sub h, add h

The textbook GRU update z*h + (1-z)*n costs 2 mul + 1 sub + 1 add; the form
above is algebraically equal and is what the lowered graph and the C kernel run.

Dense: i*o MACs, o bias adds, o activations; time-distributed Dense runs T times.
Bidirectional: both directions; the merge (sum/ave/mul) adds elementwise work.
"""
from __future__ import annotations

from typing import Any

from ..errors import TargetError
from ..ir import ModelDesc

ELEMENTWISE_OPS = ("bias_add", "gate_add", "sigmoid", "tanh", "mul", "add", "sub", "softmax", "relu", "max", "rsqrt")

#: Bytes per stored element, by quantization: weights, biases, activations/hidden state, LSTM cell
#: state, gate scratch (TFLite Micro int8 LSTM: int16 gate buffers and cell state, int32 biases).
STORAGE: dict[str, dict[str, int]] = {
    "int8": {"weight": 1, "bias": 4, "act": 1, "cell": 2, "scratch": 2},
    "int16x8": {"weight": 1, "bias": 8, "act": 2, "cell": 2, "scratch": 2},
    "dynamic": {"weight": 1, "bias": 4, "act": 4, "cell": 4, "scratch": 4},
    "float16": {"weight": 2, "bias": 2, "act": 4, "cell": 4, "scratch": 4},
    "float32": {"weight": 4, "bias": 4, "act": 4, "cell": 4, "scratch": 4},
}
QUANTS = tuple(STORAGE)
#: Quantization parameters per output channel of each weight matrix: a per-channel scale
#: (float32) and zero point (int32) in the model, or multiplier + shift (int32 each) in C.
QPARAM_BYTES_PER_CHANNEL = 8
#: Gate scratch buffers of one recurrent layer (TFLite Micro's int8 LSTM uses 4 of units*2 bytes).
SCRATCH_BUFFERS = 4

#: MAC data type executed for each quantization (float16 models compute in float32).
MAC_DTYPE = {"int8": "int8", "int16x8": "int16", "dynamic": "int8", "float16": "float32", "float32": "float32"}


def check_quant(quant: str) -> None:
    if quant not in STORAGE:
        raise TargetError(f"unknown --quant {quant}; choose from {', '.join(QUANTS)}")


def zero_ops() -> dict[str, int]:
    return {k: 0 for k in ELEMENTWISE_OPS}


def scaled(ops: dict[str, int], k: int) -> dict[str, int]:
    return {name: v * k for name, v in ops.items()}


def summed(*many: dict[str, int]) -> dict[str, int]:
    out = zero_ops()
    for ops in many:
        for name, v in ops.items():
            out[name] += v
    return out


def count_layer(layer: Any, seq_len: int, in_is_seq: bool, quant: str) -> dict[str, Any]:
    """JSON-ready counts of one layer (the kind counts, see edgelstm.layers): per step and per inference."""
    from ..layers import kind_of

    d: dict[str, Any] = {"name": layer.name, "type": layer.type, "units": layer.units, "input_size": layer.input_size,
                         "params": int(layer.params)}
    d.update(kind_of(layer).count(layer, seq_len, in_is_seq, quant))
    return d


def count_model(desc: ModelDesc, quant: str = "int8") -> dict[str, Any]:
    """Per-layer counts and model totals (MACs, params, bytes) for one quantization."""
    check_quant(quant)
    s = STORAGE[quant]
    T = desc.seq_len
    layers: list[dict[str, Any]] = []
    is_seq = True
    in_buf = T * desc.input_size * s["act"]
    act_peak = 0
    for layer, t_in in zip(desc.layers, desc.seq_lens()):
        c = count_layer(layer, t_in, is_seq, quant)
        is_seq = c["output_is_sequence"]
        out_buf = (c.get("out_len", t_in) if is_seq else 1) * layer.output_size * s["act"]
        c["activation_bytes"] = in_buf + out_buf
        act_peak = max(act_peak, in_buf + out_buf)
        in_buf = out_buf
        layers.append(c)
    ew = summed(*[l["elementwise"] for l in layers])
    weight_bytes = sum(l["weight_bytes"] for l in layers)
    state = sum(l["state_bytes"] for l in layers)
    scratch = max(l["scratch_bytes"] for l in layers)
    rec_step = sum(l["macs_per_step"] for l in layers if "directions" in l)
    stream = rec_step + sum(l["macs_per_call"] for l in layers if "directions" not in l)
    totals = {
        "macs": sum(l["macs"] for l in layers),
        "recurrent_macs_per_step": rec_step,
        "stream_macs_per_step": stream,
        "params": sum(l["params"] for l in layers),
        "weight_bytes": weight_bytes,
        "weight_bytes_by_type": {k: sum(l["storage"][k] for l in layers)
                                 for k in ("weight_bytes", "bias_bytes", "qparam_bytes")},
        "activation_bytes": act_peak,
        "state_bytes": state,
        "scratch_bytes": scratch,
        "model_ram_bytes": act_peak + state + scratch,
        "elementwise": ew,
        "elementwise_ops": sum(ew.values()),
    }
    return {"model": desc.name, "seq_len": T, "input_size": desc.input_size, "quant": quant,
            "mac_dtype": MAC_DTYPE[quant], "storage_bytes": dict(s), "layers": layers, "totals": totals}
