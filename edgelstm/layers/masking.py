"""Keras ``Masking(mask_value)`` in front of the recurrent layers: zero-padded variable-length data.

Keras marks timestep t masked when every feature of x_t equals mask_value; the recurrent layers
after it skip masked steps (state and output carried unchanged) and stacked recurrent layers
propagate the mask, so they skip the same steps. With zero initial state and a last recurrent
layer returning only its last output, the model's output equals the same model run on the
sequence with the masked steps removed. That is the one placement edgelstm supports:

  [InputLayer] -> Masking -> LSTM/GRU/SimpleRNN (stacked: return_sequences=True but the last)
               -> Dense head(s) (not time-distributed)

Masking is not an IR layer: its value is ``ModelDesc.mask_value``, read by every stage.
  reference  drops the masked steps of each sample before the layers run
  convert    only the stateful step graph (the caller skips masked steps; the runners do);
             the fixed-length sequence/unrolled graphs cannot skip steps and are refused
  export     <p>_step returns at once on a masked input (state and last output unchanged),
             <p>_run skips masked steps; int8: every feature equal to the quantized mask value
  profile    MACs count every step (an upper bound)

Calibration: the step-model calibration (convert.tflite.step_calibration, ONNX) follows the
trajectories with masked steps skipped; the ranges of the fused LSTM (calibrated by the TFLite
converter on whole sequences) and of the lowered graphs (lower.ranges) include the padded steps,
which can only widen them.

Every step masked: Keras (and the reference) give the head applied to the zero state; the step
graph never runs, so the converted and exported models return the reset output, 0.0 (int8: the
output zero point).
"""
from __future__ import annotations

from typing import Any

from ..errors import ModelError
from .common import keras_config

KERAS_CLASS = "Masking"


def parse_mask_value(ctx: Any, keras_layer: Any, layers_before: list) -> float:
    """The mask value of a Keras Masking layer; it must come first (after InputLayer only)."""
    if layers_before or not ctx.is_seq:
        raise ModelError(f"layer {ctx.index} '{keras_layer.name}' is Masking after other layers; edgelstm supports "
                         "Masking only as the first layer (after InputLayer), in front of LSTM/GRU/SimpleRNN layers")
    value = keras_config(keras_layer).get("mask_value", 0.0)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ModelError(f"layer {ctx.index} '{keras_layer.name}' has mask_value {value!r}; edgelstm supports one "
                         "scalar mask value") from None


def check_placement(name: str, layers: list) -> None:
    """The layers after Masking: recurrent (forward, stacked with return_sequences) then a Dense head."""
    why = _placement_problem(layers)
    if why:
        raise ModelError(f"model '{name}' uses Masking with {why}; edgelstm supports Masking -> LSTM/GRU/SimpleRNN "
                         "(stacked allowed, the last with return_sequences=False) -> Dense")


def _placement_problem(layers: list) -> str:
    k = 0
    while k < len(layers) and layers[k].type == "recurrent":
        if layers[k].go_backwards:
            return f"go_backwards layer '{layers[k].name}' (it starts from the padded end)"
        k += 1
    if k == 0:
        first = layers[0] if layers else None
        if first is None:
            return "no recurrent layer after it"
        what = {"bidirectional": "a Bidirectional layer", "conv1d": "a Conv1D layer",
                "dwconv1d": "a DepthwiseConv1D/SeparableConv1D layer", "pool1d": "a pooling layer",
                "dense": "a Dense/BatchNormalization/Activation layer"}.get(first.type, first.type)
        return f"{what} ('{first.name}') right after it (the mask would have to pass through it)"
    rnns, rest = layers[:k], layers[k:]
    for l in rnns[:-1]:
        if not l.return_sequences:
            return f"recurrent layer '{l.name}' returning one vector in front of another recurrent layer"
    if rnns[-1].return_sequences:
        return (f"the last recurrent layer '{rnns[-1].name}' returning sequences (masked steps have no output; only "
                "return_sequences=False is supported)")
    for l in rest:
        if l.type != "dense":
            return f"{l.type} layer '{l.name}' after the recurrent layers (only Dense heads may follow)"
    return ""
