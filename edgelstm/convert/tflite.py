"""TFLite conversion of one (variant, quant) of a ModelDesc. Runs inside the converter child process.

Which graph each variant uses:
  sequence  LSTM-only models: tf_keras clone -> fused UNIDIRECTIONAL_SEQUENCE_LSTM (state reset per invoke).
            models with a GRU: the lowered per-gate graph over the whole sequence (TFLite has no GRU op).
  unrolled  the lowered per-gate graph over T steps: FULLY_CONNECTED/ADD/MUL/SUB/LOGISTIC/TANH/UNPACK.
  stateful  LSTM-only: the fused op with T = 1 and the sequence model's quantization; h/c live in variable
            tensors across invokes (reset: LiteRT reset_all_variables(), TFLM reset()).
            models with a GRU: the lowered one-step graph with explicit state inputs/outputs whose
            quantization is identical, so state outputs are fed back as inputs byte for byte (reset: zero point).
int8 of lowered graphs uses ranges edgelstm calibrates itself (one per tensor tag, shared by all timesteps),
pinned with FakeQuant nodes.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Iterator

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402  (child process only)

from ..ir import ModelDesc  # noqa: E402
from . import rules  # noqa: E402
from .cell16 import widen_lstm_cells  # noqa: E402
from .recurrent16 import widen_recurrent_layers  # noqa: E402
from .patch import name_tensors  # noqa: E402
from ..lower import cells, ranges as ranges_mod, tf_graph, tf_keras_clone  # noqa: E402
from ..lower.rounding import gptq_simple_rnns  # noqa: E402

def uses_fused_lstm(desc: ModelDesc, variant: str) -> bool:
    return rules.uses_fused_lstm(desc, "tflite", variant)


def _converter(fn: Any) -> Any:
    return tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], fn)


def _apply_quant(conv: Any, quant: str, rep: Callable[[], Iterator[list[np.ndarray]]] | None) -> None:
    if quant == "float32":
        return
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    if quant == "float16":
        conv.target_spec.supported_types = [tf.float16]
    elif quant == "int8":
        conv.representative_dataset = rep
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    elif quant == "int16x8":
        conv.representative_dataset = rep
        conv.target_spec.supported_ops = [
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
        conv.inference_input_type = tf.int16
        conv.inference_output_type = tf.int16


def _fused(desc: ModelDesc, quant: str, calib_x: np.ndarray | None) -> bytes:
    model = tf_keras_clone.build(desc)
    conv = tf.lite.TFLiteConverter.from_keras_model(model)

    def rep() -> Iterator[list[np.ndarray]]:
        assert calib_x is not None
        for sample in calib_x:
            yield [sample[None].astype(np.float32)]

    _apply_quant(conv, quant, rep)
    return bytes(conv.convert())


def _lowered(desc: ModelDesc, variant: str, quant: str, calib_x: np.ndarray | None, lstm_cell: str) -> bytes:
    """The lowered graph converted, its tensors named after their tags; in int8 the LSTM cell path in
    ``lstm_cell`` (int16: convert.cell16, and relu GRUs and SimpleRNNs with int16 activations:
    convert.recurrent16; int8: all-int8, for int8-only accelerators). In int8 a SimpleRNN's weights are
    rounded data-aware first (lower.rounding)."""
    pinned = None
    if quant == "int8":
        assert calib_x is not None
        desc = gptq_simple_rnns(desc, calib_x)
        pinned = ranges_mod.calibrate(desc, calib_x)
    if variant == "stateful":
        fn = tf_graph.step_function(desc, pinned)
    else:
        fn = tf_graph.sequence_function(desc, pinned)
    conv = _converter(fn)

    def rep() -> Iterator[list[np.ndarray]]:
        # With pinned ranges the converter only needs shapes; for int16x8 it calibrates from these.
        assert calib_x is not None
        if variant != "stateful":
            for sample in calib_x:
                yield [sample[None].astype(np.float32)]
        else:
            for inputs in step_calibration(desc, calib_x):
                yield inputs

    _apply_quant(conv, quant, rep)
    data = name_tensors(bytes(conv.convert()), one_step=variant == "stateful")
    if pinned is None or lstm_cell == "int8":
        return data
    return widen_recurrent_layers(widen_lstm_cells(data, desc, pinned), desc)


def step_calibration(desc: ModelDesc, calib_x: np.ndarray, max_samples: int = 2000) -> Iterator[list[np.ndarray]]:
    """(x_t, *states) float inputs of the step model along real trajectories of the float model.

    Every sequence is followed from a zero state (skipping masked steps); timesteps are strided so that
    at most max_samples inputs are produced and all sequences and times are seen.
    """
    be = ranges_mod.NumpyBackend()
    order = [tag for tag, _ in tf_graph.state_order(desc)]
    step_tags = [tag for tag, _ in cells.state_tags(desc)]
    stride = max(1, (len(calib_x) * desc.seq_len) // max_samples)
    n = 0
    skip = desc.step_mask(calib_x)  # Masking: masked steps are never run, so never calibrated
    for sample, masked in zip(calib_x, skip):
        states = {tag: np.zeros((1, size)) for tag, size in cells.state_tags(desc)}
        for t in range(desc.seq_len):
            if masked[t]:
                continue
            x_t = sample[None, t, :].astype(np.float64)
            if n % stride == 0:
                yield [x_t.astype(np.float32)] + [states[tag].astype(np.float32) for tag in order]
            n += 1
            _, new = cells.model_step(be, desc, x_t, [states[tag] for tag in step_tags])
            states = dict(zip(step_tags, new))


def convert_tflite(desc: ModelDesc, variant: str, quant: str, calib_x: np.ndarray | None,
                   lstm_cell: str = "int16") -> bytes:
    """The .tflite bytes of one variant x quant (raises UnsupportedCombination / converter errors).
    ``lstm_cell`` applies to lowered int8 LSTMs only (the fused op always keeps its cell in int16)."""
    rules.check(desc, "tflite", variant, quant)
    if uses_fused_lstm(desc, variant):
        data = _fused(desc, quant, calib_x)
        if variant == "stateful":
            from .patch import set_sequence_length

            data = set_sequence_length(data, desc.seq_len, 1)
        return data
    return _lowered(desc, variant, quant, calib_x, lstm_cell)
