"""Tensor tags across the converter: the name a lowered tensor carries into a .tflite / .onnx file.

A tag is ``<layer>.<what>`` (see lower.cells); the k-th time a tag is computed (step k of its
layer) the TF op is named ``<tag>.t<k>``. The converters carry op names into tensor names
(TFLite fuses several: 'MatMul;l0.input.x.t3'), ``parse`` reads them back, and a converted
graph's tensors are renamed ``<tag>@<k>`` (``<tag>`` in a one-step graph).
"""
from __future__ import annotations

import re

_OP_NAME = re.compile(r"^(?:.*/)?(l\d+[fb]?\.[A-Za-z_.]+?)\.t(\d+)(?:_\d+)?(?::\d+)?$")
_TENSOR_NAME = re.compile(r"^(l\d+[fb]?\.[A-Za-z_.]+)(?:@(\d+))?$")


def op_name(tag: str, step: int) -> str:
    return f"{tag}.t{step}"


def parse(converter_name: str) -> tuple[str, int] | None:
    """(tag, step) from a converter's tensor name, or None when it carries no tag."""
    for part in reversed(converter_name.split(";")):
        m = _OP_NAME.match(part.strip())
        if m:
            return m.group(1), int(m.group(2))
    return None


def tensor_name(tag: str, step: int, one_step: bool) -> str:
    return tag if one_step else f"{tag}@{step}"


def parse_tensor_name(name: str) -> tuple[str, int] | None:
    """(tag, step) of a tensor renamed by ``tensor_name``, or None."""
    m = _TENSOR_NAME.match(name)
    return (m.group(1), int(m.group(2) or 0)) if m else None
