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
from ..ir import GATES, BidirectionalLayer, DenseLayer, Layer, ModelDesc, RecurrentLayer

ELEMENTWISE_OPS = ("bias_add", "gate_add", "sigmoid", "tanh", "mul", "add", "sub", "softmax", "relu")

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


def _zero_ops() -> dict[str, int]:
    return {k: 0 for k in ELEMENTWISE_OPS}


def gate_counts(layer: RecurrentLayer) -> dict[str, dict[str, int]]:
    """Per gate, per timestep, one direction: MACs (input/recurrent parts) and bias adds (Keras weights)."""
    i, h = layer.input_size, layer.units
    out: dict[str, dict[str, int]] = {}
    for gate in GATES[layer.cell]:
        two_biases = layer.cell == "gru" and layer.reset_after
        out[gate] = {
            "input_macs_per_step": h * i,
            "recurrent_macs_per_step": h * h,
            "macs_per_step": h * (i + h),
            "input_bias_adds_per_step": h,
            "recurrent_bias_adds_per_step": h if two_biases else 0,
            "bias_adds_per_step": 2 * h if two_biases else h,
        }
    return out


def recurrent_elementwise(layer: RecurrentLayer) -> dict[str, int]:
    """Elementwise work per timestep of one direction, as executed (see the module docstring)."""
    h = layer.units
    ops = _zero_ops()
    if layer.cell == "lstm":
        ops.update(bias_add=4 * h, gate_add=4 * h, sigmoid=3 * h, tanh=2 * h, mul=3 * h, add=h)
    elif layer.reset_after:
        ops.update(bias_add=4 * h, gate_add=3 * h, sigmoid=2 * h, tanh=h, mul=2 * h, sub=h, add=h)
    else:
        ops.update(bias_add=3 * h, gate_add=3 * h, sigmoid=2 * h, tanh=h, mul=2 * h, sub=h, add=h)
    return ops


def _dense_elementwise(layer: DenseLayer) -> dict[str, int]:
    ops = _zero_ops()
    ops["bias_add"] = layer.units
    if layer.activation in ("sigmoid", "tanh", "relu", "softmax"):
        ops[layer.activation] += layer.units
    return ops


def _merge_elementwise(layer: BidirectionalLayer) -> dict[str, int]:
    ops = _zero_ops()
    u = layer.units
    if layer.merge_mode in ("sum",):
        ops["add"] = u
    elif layer.merge_mode == "mul":
        ops["mul"] = u
    elif layer.merge_mode == "ave":
        ops.update(add=u, mul=u)
    return ops


def _scaled(ops: dict[str, int], k: int) -> dict[str, int]:
    return {name: v * k for name, v in ops.items()}


def _summed(*many: dict[str, int]) -> dict[str, int]:
    out = _zero_ops()
    for ops in many:
        for name, v in ops.items():
            out[name] += v
    return out


def _rnn_storage(layer: RecurrentLayer, quant: str) -> dict[str, int]:
    s = STORAGE[quant]
    weights = layer.kernel.size + layer.recurrent_kernel.size
    qparams = 0 if quant.startswith("float") else 2 * layer.num_gates * layer.units * QPARAM_BYTES_PER_CHANNEL
    state = layer.units * s["act"] + (layer.units * s["cell"] if layer.cell == "lstm" else 0)
    return {"weights": int(weights), "biases": int(layer.bias.size), "weight_bytes_int": int(weights * s["weight"]),
            "bias_bytes": int(layer.bias.size * s["bias"]), "qparam_bytes": qparams, "state_bytes": state,
            "scratch_bytes": SCRATCH_BUFFERS * layer.units * s["scratch"]}


def count_layer(layer: Layer, seq_len: int, in_is_seq: bool, quant: str) -> dict[str, Any]:
    """JSON-ready counts of one layer: per step and per inference (whole sequence)."""
    s = STORAGE[quant]
    d: dict[str, Any] = {"name": layer.name, "type": layer.type, "units": layer.units, "input_size": layer.input_size,
                         "params": int(layer.params)}
    if isinstance(layer, DenseLayer):
        calls = seq_len if (layer.time_distributed and in_is_seq) else 1
        macs = layer.input_size * layer.units
        qparams = 0 if quant.startswith("float") else layer.units * QPARAM_BYTES_PER_CHANNEL
        d.update(activation=layer.activation, calls=calls, gates={}, macs_per_step=macs if calls > 1 else 0,
                 macs_per_call=macs, macs=macs * calls,
                 elementwise_per_call=_dense_elementwise(layer),
                 elementwise=_scaled(_dense_elementwise(layer), calls),
                 storage={"weights": int(layer.kernel.size), "biases": int(layer.bias.size),
                          "weight_bytes": int(layer.kernel.size * s["weight"]),
                          "bias_bytes": int(layer.bias.size * s["bias"]), "qparam_bytes": qparams},
                 weight_bytes=int(layer.kernel.size * s["weight"] + layer.bias.size * s["bias"] + qparams),
                 state_bytes=0, scratch_bytes=0, output_is_sequence=calls > 1)
        return d
    dirs = [layer] if isinstance(layer, RecurrentLayer) else [layer.forward, layer.backward]
    first = dirs[0]
    gates = gate_counts(first)
    if len(dirs) == 2:
        gates = {g: _scaled(c, 2) for g, c in gates.items()}
    ew_step = _summed(*[recurrent_elementwise(r) for r in dirs])
    macs_step = sum(g["macs_per_step"] for g in gates.values())
    stores = [_rnn_storage(r, quant) for r in dirs]
    merge_calls = 0
    if isinstance(layer, BidirectionalLayer):
        merge_calls = seq_len if layer.return_sequences else 1
        d.update(directions=2, merge_mode=layer.merge_mode)
    else:
        d.update(directions=1)
    merge = _scaled(_merge_elementwise(layer), merge_calls) if isinstance(layer, BidirectionalLayer) else _zero_ops()
    d.update(cell=first.cell, return_sequences=layer.return_sequences, calls=seq_len)
    if first.cell == "gru":
        d["reset_after"] = first.reset_after
    wbytes = sum(st["weight_bytes_int"] + st["bias_bytes"] + st["qparam_bytes"] for st in stores)
    d.update(gates=gates, macs_per_step=macs_step, macs_per_call=macs_step, macs=macs_step * seq_len,
             elementwise_per_step=ew_step, elementwise=_summed(_scaled(ew_step, seq_len), merge),
             storage={"weights": sum(st["weights"] for st in stores), "biases": sum(st["biases"] for st in stores),
                      "weight_bytes": sum(st["weight_bytes_int"] for st in stores),
                      "bias_bytes": sum(st["bias_bytes"] for st in stores),
                      "qparam_bytes": sum(st["qparam_bytes"] for st in stores)},
             weight_bytes=wbytes, state_bytes=sum(st["state_bytes"] for st in stores),
             scratch_bytes=max(st["scratch_bytes"] for st in stores), output_is_sequence=layer.return_sequences)
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
    for layer in desc.layers:
        c = count_layer(layer, T, is_seq, quant)
        is_seq = c["output_is_sequence"]
        out_buf = (T if is_seq else 1) * layer.output_size * s["act"]
        c["activation_bytes"] = in_buf + out_buf
        act_peak = max(act_peak, in_buf + out_buf)
        in_buf = out_buf
        layers.append(c)
    ew = _summed(*[l["elementwise"] for l in layers])
    weight_bytes = sum(l["weight_bytes"] for l in layers)
    state = sum(l["state_bytes"] for l in layers)
    scratch = max(l["scratch_bytes"] for l in layers)
    rec_step = sum(l["macs_per_step"] for l in layers if l["type"] != "dense")
    stream = rec_step + sum(l["macs_per_call"] for l in layers if l["type"] == "dense")
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
