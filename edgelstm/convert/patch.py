"""Edits of converted .tflite flatbuffers."""
from __future__ import annotations

import numpy as np


def set_sequence_length(tflite: bytes, old_t: int, new_t: int) -> bytes:
    """Rewrite every (1, old_t, n) tensor of a fused-LSTM model to (1, new_t, n).

    The fused UNIDIRECTIONAL_SEQUENCE_LSTM keeps h and c in variable tensors and
    takes its time dimension from its input, so the result steps new_t
    timesteps per invoke with the quantization calibrated on whole sequences:
    invoking it T times with new_t = 1 gives the sequence model's output byte
    for byte.
    """
    from tensorflow.lite.tools import flatbuffer_utils as fbu

    model = fbu.read_model_from_bytearray(bytearray(tflite))
    for sg in model.subgraphs:
        for t in sg.tensors:
            for attr in ("shape", "shapeSignature"):
                shape = getattr(t, attr)
                if shape is not None and len(shape) == 3 and shape[0] == 1 and shape[1] == old_t:
                    setattr(t, attr, np.array([1, new_t, shape[2]], dtype=np.int32))
        for op in sg.operators:  # RESHAPE targets that spell out the time dimension
            for i in op.inputs[1:2] if len(op.inputs) > 1 else []:
                t = sg.tensors[i]
                buf = model.buffers[t.buffer].data if t.buffer else None
                if buf is not None and t.type == fbu.schema_fb.TensorType.INT32 and len(buf) == 12:  # (1, T, n)
                    v = np.frombuffer(bytes(buf), np.int32).copy()
                    if v[0] == 1 and v[1] == old_t:
                        v[1] = new_t
                        model.buffers[t.buffer].data = np.frombuffer(v.tobytes(), np.uint8)
    return bytes(fbu.convert_object_to_bytearray(model))


def name_tensors(tflite: bytes, one_step: bool) -> bytes:
    """Rename tensors after the lowered graph's tags: 'l0.c@17' (step 17), 'l0.c' in a one-step graph.

    The converter's names ('MatMul_12;add_7;l0.c.t17') were most of an unrolled file; tensors that carry
    no tag become 't<index>'; a constant named after a tagged op (the folded bias of a FULLY_CONNECTED)
    becomes '<tag>.bias@k'. Inputs and outputs keep their names (the signature refers to them).
    """
    from tensorflow.lite.tools import flatbuffer_utils as fbu

    from ..lower import tags

    model = fbu.read_model_from_bytearray(bytearray(tflite))
    for sg in model.subgraphs:
        keep = set(int(i) for i in sg.inputs) | set(int(i) for i in sg.outputs)
        for i, t in enumerate(sg.tensors):
            if i in keep:
                continue
            found = tags.parse((t.name or b"").decode(errors="replace"))
            if found and t.buffer and model.buffers[t.buffer].data is not None and len(model.buffers[t.buffer].data):
                found = (found[0] + ".bias", found[1])
            t.name = (tags.tensor_name(found[0], found[1], one_step) if found else f"t{i}").encode()
    return bytes(fbu.convert_object_to_bytearray(model))
