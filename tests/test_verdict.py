"""The verdict thresholds of convert.verdict, at their edges."""
from __future__ import annotations

from edgelstm.convert import verdict


def _art(path: str, quant: str, err: float, cos: float, acc: float | None = None, scale: float | None = 1 / 256,
         fmt: str = "tflite") -> dict:
    m = {"max_abs_error": err, "cosine_similarity": cos, "samples": 40}
    if acc is not None:
        m.update(accuracy=acc, keras_accuracy=0.975)
    return {"path": f"out/{path}", "format": fmt, "variant": "unrolled", "quant": quant,
            "outputs": [{"scale": scale}], "metrics": {"litert": m, "tflm": dict(m, max_abs_error=err / 2)}}


def test_thresholds():
    j = lambda a: verdict.judge(a, 1.0)["status"]  # noqa: E731
    assert j(_art("a", "int8", 16 / 256, 0.9951)) == "ok"
    assert j(_art("a", "int8", 16.5 / 256, 0.9999)) == "degraded"
    assert j(_art("a", "int8", 1 / 256, 0.994)) == "degraded"
    assert j(_art("a", "int8", 1 / 256, 0.9999, acc=0.955)) == "degraded"  # 2 points below 0.975
    assert j(_art("a", "int8", 1 / 256, 0.9999, acc=0.96)) == "ok"
    assert j(_art("a", "int8", 65 / 256, 0.9999)) == "broken"
    assert j(_art("a", "int8", 1 / 256, 0.94)) == "broken"
    assert j(_art("a", "int8", 1 / 256, 0.9999, acc=0.875)) == "broken"


def test_float_outputs_use_the_keras_output_range():
    a = _art("a.onnx", "int8", 0.5, 0.9999, scale=None, fmt="onnx")
    assert verdict.judge(a, 255.0)["error_lsb"] == 0.5  # range 255 -> 1 LSB = 1.0
    assert verdict.judge(a, 1.0)["status"] == "broken"  # 0.5 of a range of 1 = 127 LSB


def test_worst_engine_decides_and_warning_names_an_alternative():
    bad = _art("m_unrolled_int8.tflite", "int8", 0.97, 0.02)
    good = _art("m_sequence_int8.tflite", "int8", 0.003, 0.99999)
    good["variant"] = "sequence"
    arts = [bad, good]
    for a in arts:
        a["verdict"] = verdict.judge(a, 1.0)
    assert bad["verdict"]["engine"] == "litert" and bad["verdict"]["status"] == "broken"
    (line,) = verdict.warnings(arts)
    assert line.startswith("m_unrolled_int8.tflite is BROKEN (cosine 0.020 < 0.95; max error 248 LSB > 64")
    assert "use m_sequence_int8.tflite (0.8 LSB) instead" in line and "edgelstm inspect out/m_unrolled" in line
    assert verdict.worst(arts) == "broken"
