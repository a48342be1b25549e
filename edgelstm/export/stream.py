"""Streaming through a convolution / pooling front end in the C export: a ring of the last inputs.

A model Conv1D/DepthwiseConv1D/pooling ('valid') -> LSTM ... -> Dense cannot be a one-step graph (each
recurrent step reads a window of inputs, and only every S-th input completes one), so no stateful
.tflite holds it. The C export streams it anyway:

  * one recurrent step reads R consecutive inputs (the front's receptive field) and the next one
    starts S inputs later (the product of the strides): Window(rows=R, stride=S);
  * the window graph is the exported sequence graph with every time length of the front set to the
    window's (R inputs -> ... -> 1 step into the LSTM, whose T becomes 1): the same ops, weights and
    quantization, so its integers are the sequence graph's (shape rewrite only, as convert.patch does
    for the fused LSTM's stateful form);
  * <name>_state_t keeps the last R inputs and a countdown to the next step; <name>_step pushes x_t and,
    when the countdown ends, runs the window graph (the LSTM's h/c carried in the state, as for the
    stateful fused op) and the head; else it returns the last output. <name>_run is <name>_step over
    the sequence (the head once), so it equals the sequence graph, which the export checks against
    TFLite Micro, and the step outputs are checked against TFLite Micro running the window graph on
    the same ring.

Only when every front output is fully inside the input ('valid' padding): a 'same' window at the end
reads steps that have not arrived yet. The recurrent layers must be fused LSTMs (a GRU's sequence graph
is unrolled per step) and the model must end in one vector.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..convert import rules
from ..ir import WINDOWED_TYPES, ModelDesc


@dataclass(frozen=True)
class Window:
    rows: int  # R: inputs one recurrent step reads
    stride: int  # S: inputs between two recurrent steps
    lengths: tuple[tuple[int, int], ...]  # (time length in the sequence graph, in the window graph)

    def as_dict(self) -> dict:
        return {"rows": self.rows, "stride": self.stride}


def _span_stride(layer) -> tuple[int, int]:
    if layer.type == "pool1d":
        return layer.pool_size, layer.strides
    return layer.dilation * (layer.kernel_size - 1) + 1, layer.strides


def blocker(desc: ModelDesc) -> str:
    """Why the C export cannot stream this model through a window ring ("" when it can)."""
    first = next((k for k, l in enumerate(desc.layers) if l.type in ("recurrent", "bidirectional")), None)
    front = desc.layers[:first] if first is not None else ()
    windowed = [l for l in front if l.type in WINDOWED_TYPES]
    if not windowed:
        return "no convolution or pooling in front of the recurrent layers"
    if any(l.type in WINDOWED_TYPES for l in desc.layers[first:]):
        return "convolution or pooling after a recurrent layer"
    for l in front:
        if l.type not in (*WINDOWED_TYPES, "dense"):
            return f"layer '{l.name}' ({l.type}) in the front end"
        if l.type in WINDOWED_TYPES and (getattr(l, "global_", False) or l.padding != "valid"):
            return (f"layer '{l.name}' with padding '{l.padding}'" if not getattr(l, "global_", False)
                    else f"global pooling '{l.name}'") + " (a window reaching past the newest input)"
    rest = ModelDesc(desc.name, 1, front[-1].output_size, tuple(desc.layers[first:]))
    if desc.output_is_sequence:
        return "an output sequence (the steps are fewer than the inputs)"
    if not rest.streamable:
        return rest.stream_blocker
    if not rules.uses_fused_lstm(rest, "tflite", "sequence"):
        return "recurrent layers other than fused LSTMs (a GRU's sequence graph is unrolled per step)"
    return ""


def plan(desc: ModelDesc) -> Window | None:
    """The window of a model the C export streams through a ring, or None (see blocker)."""
    if desc.mask_value is not None or blocker(desc):
        return None
    first = next(k for k, l in enumerate(desc.layers) if l.type in ("recurrent", "bidirectional"))
    lens = desc.seq_lens()
    rows, stride = 1, 1
    new = {lens[first]: 1}
    for k in range(first - 1, -1, -1):
        layer = desc.layers[k]
        if layer.type in WINDOWED_TYPES:
            span, s = _span_stride(layer)
            rows, stride = (rows - 1) * s + span, stride * s
        if new.get(lens[k], rows) != rows:
            return None  # two front tensors of one length that need different window lengths
        new[lens[k]] = rows
    if rows > desc.seq_len:
        return None
    return Window(rows, stride, tuple(sorted(new.items())))


def window_graph(tflite: bytes, window: Window) -> bytes:
    """The sequence graph with the front's time lengths set to the window's (see the module docstring).
    Time is axis 1 of (1, T, C) tensors and the non-unit axis 1 or 2 of (1, T, 1, C) / (1, 1, T, C)
    ones; RESHAPE targets spelling a time length are rewritten the same way."""
    from tensorflow.lite.tools import flatbuffer_utils as fbu

    lengths = dict(window.lengths)
    model = fbu.read_model_from_bytearray(bytearray(tflite))

    def rewrite(shape: np.ndarray) -> np.ndarray | None:
        s = [int(v) for v in shape]
        if len(s) == 3 and s[0] == 1 and s[1] in lengths:
            s[1] = lengths[s[1]]
        elif len(s) == 4 and s[0] == 1 and s[1] == 1 and s[2] in lengths:
            s[2] = lengths[s[2]]
        elif len(s) == 4 and s[0] == 1 and s[2] == 1 and s[1] in lengths:
            s[1] = lengths[s[1]]
        else:
            return None
        return np.array(s, np.int32)

    for sg in model.subgraphs:
        for t in sg.tensors:
            if t.buffer and model.buffers[t.buffer].data is not None and len(model.buffers[t.buffer].data):
                continue  # constants (filters, biases) have no time axis
            for attr in ("shape", "shapeSignature"):
                shape = getattr(t, attr)
                if shape is not None and (new := rewrite(shape)) is not None:
                    setattr(t, attr, new)
        for op in sg.operators:
            if model.operatorCodes[op.opcodeIndex].builtinCode != fbu.schema_fb.BuiltinOperator.RESHAPE:
                continue
            if len(op.inputs) > 1 and op.inputs[1] >= 0:
                t = sg.tensors[op.inputs[1]]
                buf = model.buffers[t.buffer].data if t.buffer else None
                if buf is not None and len(buf) in (12, 16):
                    v = np.frombuffer(bytes(buf), np.int32)
                    new_v = rewrite(v)
                    if new_v is not None:
                        model.buffers[t.buffer].data = np.frombuffer(new_v.tobytes(), np.uint8)
            opts = op.builtinOptions
            if opts is not None and getattr(opts, "newShape", None) is not None and len(opts.newShape) in (3, 4):
                new_v = rewrite(np.asarray(opts.newShape))
                if new_v is not None:
                    opts.newShape = new_v
    return bytes(fbu.convert_object_to_bytearray(model))
