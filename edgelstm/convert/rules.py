"""Which format x variant x quant combinations work, in one place (no TensorFlow import).

Checked before any conversion starts, and again by the converters themselves.
"""
from __future__ import annotations

from ..errors import UnsupportedCombination
from ..ir import ModelDesc

FORMATS = ("tflite", "onnx")
VARIANTS = ("sequence", "unrolled", "stateful")
QUANTS = ("float32", "float16", "dynamic", "int8", "int16x8")
ONNX_QUANTS = ("float32", "dynamic", "int8")
#: Cell state of lowered int8 LSTMs (convert.cell16): int16 (default), or int8 for int8-only accelerators
LSTM_CELLS = ("int16", "int8")


#: Graphs over the whole fixed-length window (they cannot skip masked steps)
FIXED_LENGTH = ("sequence", "unrolled")


def default_variants(desc: ModelDesc, requested: list[str] | None, all_requested: bool = False) -> list[str]:
    """The variants to convert: ``requested`` as given; none given: sequence (stateful for masked models);
    ``--variant all``: every variant the model supports (masked models: stateful only)."""
    if desc.mask_value is not None and (requested is None or all_requested):
        return ["stateful"]
    return list(requested) if requested else ["sequence"]


def uses_fused_lstm(desc: ModelDesc, fmt: str, variant: str) -> bool:
    """TFLite sequence/stateful of LSTM-only models use the fused UNIDIRECTIONAL_SEQUENCE_LSTM op (its gates
    are LOGISTIC and its cell TANH: other activations take the lowered graph)."""
    return fmt == "tflite" and variant in ("sequence", "stateful") and desc.cells == {"lstm"} and all(
        d.activation == "tanh" and d.recurrent_activation == "sigmoid" for d in desc.directions)


def check(desc: ModelDesc, fmt: str, variant: str, quant: str) -> None:
    """Raise UnsupportedCombination naming why, and what to use instead."""
    for value, allowed, what in ((fmt, FORMATS, "format"), (variant, VARIANTS, "variant"), (quant, QUANTS, "quant")):
        if value not in allowed:
            raise UnsupportedCombination(f"unknown --{what} {value}; choose from {', '.join(allowed)}")
    if desc.mask_value is not None and variant in FIXED_LENGTH:
        raise UnsupportedCombination(
            f"--variant {variant} runs every timestep of a fixed-length window and cannot skip the steps Masking "
            f"(mask_value={desc.mask_value:g}) masks; use --variant stateful (the caller skips masked steps) or the C "
            "export (edgelstm export: hx_step/hx_run skip them)")
    if variant == "stateful" and not desc.streamable:
        raise UnsupportedCombination(f"{desc.stream_blocker} need the whole sequence and cannot stream one step at a time; use "
                                     "--variant sequence or unrolled")
    if quant == "int16x8" and uses_fused_lstm(desc, fmt, variant):
        raise UnsupportedCombination(
            f"int16x8 is not supported for the fused UNIDIRECTIONAL_SEQUENCE_LSTM op (TF 2.21: 'Quantization to 16x8-bit "
            f"not yet supported'); use --quant int8 for --variant {variant}, or --variant unrolled --quant int16x8")
    if fmt == "onnx" and variant == "sequence" and quant == "int8" and _has_gru_v1(desc):
        raise UnsupportedCombination(
            "GRU(reset_after=False) becomes an ONNX Loop (tf2onnx maps only reset_after=True to the GRU op) and "
            "onnxruntime's static quantizer cannot quantize Loop bodies; use --variant unrolled or stateful for ONNX int8")
    if fmt == "onnx" and quant not in ONNX_QUANTS:
        raise UnsupportedCombination(f"--quant {quant} is not offered for ONNX (onnxruntime quantizes to dynamic or "
                                     f"static int8); use --format tflite for {quant}, or float32/dynamic/int8 for ONNX")


def _has_gru_v1(desc: ModelDesc) -> bool:
    return any(d.cell == "gru" and not d.reset_after for d in desc.directions)
