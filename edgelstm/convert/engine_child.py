"""One interpreter run in a child process: ``python -m edgelstm.convert.engine_child DIR``.

TFLite Micro and LiteRT abort the whole process (C++ assertions) on models they
cannot prepare (float16 DEQUANTIZE in TFLM, int16 UNPACK in LiteRT, ...). Running
each validation here turns that into a clear result for one artifact.
DIR holds model.bin and job.npz (kind, x, variant, output_is_sequence, mask_value: NaN for none); the
child writes out.npy and io.json (input/output tensor info).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def main(d: str) -> int:
    from .runners import make_engine, run_artifact

    path = Path(d)
    job = np.load(path / "job.npz")
    kind, data = str(job["kind"]), (path / "model.bin").read_bytes()
    engine = make_engine(kind, data)
    (path / "io.json").write_text(json.dumps({"inputs": [i.as_dict() for i in engine.inputs],
                                              "outputs": [o.as_dict() for o in engine.outputs]}))
    mask = float(job["mask_value"]) if "mask_value" in job.files else float("nan")
    out = run_artifact(kind, data, str(job["variant"]), job["x"], bool(job["output_is_sequence"]),
                       None if np.isnan(mask) else mask)
    np.save(path / "out.npy", out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
