"""ONNX conversion of one (variant, quant). Runs inside the converter child process.

sequence  tf_keras clone through tf2onnx: ONNX LSTM / GRU ops (Keras 3 would give Loop).
unrolled  the lowered per-gate graph over T steps: MatMul/Add/Mul/Sigmoid/Tanh.
stateful  the lowered one-step graph with explicit state inputs/outputs (float).
Quantization by onnxruntime: dynamic (quantize_dynamic) and int8 (quantize_static, QDQ, per-channel),
both with reduce_range (7-bit weights) so CPUs without VNNI do not saturate.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402

from . import rules  # noqa: E402
from ..ir import ModelDesc  # noqa: E402
from ..lower import tf_graph, tf_keras_clone  # noqa: E402
from .tflite import step_calibration  # noqa: E402

OPSET = 17


def _float_model(desc: ModelDesc, variant: str) -> Any:
    import tf2onnx

    if variant == "sequence":
        keras_model = tf_keras_clone.build(desc)
        spec = [tf.TensorSpec([1, desc.seq_len, desc.input_size], tf.float32, name="input")]
        fn = tf.function(lambda x: {"output": keras_model(x)}, input_signature=spec)
    elif variant == "unrolled":
        fn = tf_graph.sequence_function(desc, None)
    else:
        fn = tf_graph.step_function(desc, None)
    sig = fn.get_concrete_function().structured_input_signature[0]
    model, _ = tf2onnx.convert.from_function(fn, input_signature=sig, opset=OPSET)
    return model


class _Reader:
    """onnxruntime CalibrationDataReader over the calibration samples."""

    def __init__(self, feeds: list[dict[str, np.ndarray]]) -> None:
        self._it = iter(feeds)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._it, None)


def _calibration_feeds(desc: ModelDesc, variant: str, input_names: list[str], calib_x: np.ndarray) -> list[dict]:
    if variant == "stateful":
        return [dict(zip(input_names, inputs)) for inputs in step_calibration(desc, calib_x)]
    return [{input_names[0]: s[None].astype(np.float32)} for s in calib_x[:64]]


def convert_onnx(desc: ModelDesc, variant: str, quant: str, calib_x: np.ndarray | None) -> bytes:
    import onnx

    rules.check(desc, "onnx", variant, quant)
    model = _float_model(desc, variant)
    onnx.checker.check_model(model)
    if quant == "float32":
        return model.SerializeToString()
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory() as tmp:
        src, pre, dst = Path(tmp, "f.onnx"), Path(tmp, "p.onnx"), Path(tmp, "q.onnx")
        onnx.save(model, src)
        try:
            quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        except Exception:  # pre-processing is an optimisation; quantize the plain model if it fails
            pre = src
        if quant == "dynamic":
            quantize_dynamic(str(pre), str(dst), weight_type=QuantType.QInt8, reduce_range=True)
        else:
            assert calib_x is not None
            names = [i.name for i in model.graph.input]
            quantize_static(str(pre), str(dst), _Reader(_calibration_feeds(desc, variant, names, calib_x)),
                            quant_format=QuantFormat.QDQ, activation_type=QuantType.QInt8,
                            weight_type=QuantType.QInt8, per_channel=True, reduce_range=True)
        out = onnx.load(dst)
        onnx.checker.check_model(out)
        return out.SerializeToString()
