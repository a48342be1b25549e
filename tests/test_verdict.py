"""The verdict thresholds of convert.verdict, at their edges."""
from __future__ import annotations

from pathlib import Path

import numpy as np

import edgelstm
from edgelstm.convert import metrics, verdict
from edgelstm.load import load_model


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


def _scores(series_lsb: list[float], changed: int, held: float = 0.5, scale: float = 1 / 256,
            classes: bool = True) -> dict:
    """Class-score metrics as metrics.compare gives them: one error per series (in LSB), `changed` series
    whose class differs from Keras', which Keras held by `held` LSB."""
    n = len(series_lsb)
    want = np.zeros((n, 4))
    want[:, 0] = 1.0
    got = want.copy()
    got[:, 1] = np.asarray(series_lsb) * scale
    want[:changed, 0], want[:changed, 2] = 0.5 + held * scale / 2, 0.5 - held * scale / 2
    got[:changed, 0], got[:changed, 2] = want[:changed, 2], want[:changed, 0]  # the argmax swaps
    m = metrics.compare(got, want, class_scores=classes)
    return {"path": "out/c.tflite", "format": "tflite", "variant": "sequence", "quant": "int8",
            "outputs": [{"scale": scale}], "metrics": {"tflm": m}}


def test_class_scores_judge_the_95th_percentile_series_and_not_near_ties():
    j = lambda a: verdict.judge(a, 1.0)  # noqa: E731
    calm = [2.0] * 38
    # two boundary series of 40 move by 100 LSB: the decisions hold, the artifact is ok (the max is still shown)
    v = j(_scores(calm + [100.0, 100.0], changed=0))
    assert v["status"] == "ok" and v["error_lsb"] == 100.0, v
    # a third one puts more than 5 % of the series over 64 LSB
    v = j(_scores(calm[:-1] + [100.0] * 3, changed=0))
    assert v["status"] == "broken" and v["reasons"] == [
        "error > 64 LSB in over 5 % of series (100 LSB at the 95th percentile)"], v
    assert j(_scores(calm[:-1] + [20.0] * 3, changed=0))["status"] == "degraded"
    # below 20 series the percentile is the largest error
    assert j(_scores([2.0] * 18 + [100.0], changed=0))["status"] == "broken"
    assert j(_scores([2.0] * 19 + [100.0], changed=0))["status"] == "ok"
    # classes changed at near ties (Keras held them by half an LSB) say nothing of the artifact
    assert j(_scores([2.0] * 40, changed=8))["status"] == "ok"


def test_class_scores_count_the_classes_keras_was_sure_of():
    j = lambda a: verdict.judge(a, 1.0)  # noqa: E731
    # 1 of 40 series (2.5 %) overturned, Keras held it by 250 LSB: more than 1 % beyond 16 LSB, degraded
    v = j(_scores([2.0] * 40, changed=1, held=250.0))
    assert v["status"] == "degraded" and (
        "1 of 40 series change a class Keras held by > 16 LSB (up to 250)") in v["reasons"], v
    # 2 of 40 (5 %) beyond 64 LSB: broken, as the collapsed unrolled LSTM (tests/test_regression.py)
    v = j(_scores([2.0] * 40, changed=2, held=250.0))
    assert v["status"] == "broken" and (
        "2 of 40 series change a class Keras held by > 64 LSB (up to 250)") in v["reasons"], v
    # 1 of 370 (0.27 %): the rounding of another interpreter, ok; 4 of 370 (1.1 %): degraded
    assert j(_scores([2.0] * 370, changed=1, held=226.0))["status"] == "ok"
    assert j(_scores([2.0] * 370, changed=4, held=216.0))["status"] == "degraded"
    assert j(_scores([2.0] * 370, changed=4, held=10.0))["status"] == "ok"  # near ties


def test_outputs_that_are_not_class_scores_keep_the_max_error():
    # several outputs that are not a softmax (a Dense(4) regression head): two bad series of 40 are broken
    v = verdict.judge(_scores([2.0] * 38 + [100.0, 100.0], changed=0, classes=False), 1.0)
    assert v["status"] == "broken" and v["reasons"] == ["max error 100 LSB > 64"], v


def test_class_scores_are_a_softmax_over_several_classes():
    demo = Path(edgelstm.__file__).parent / "models" / "demo_lstm.keras"
    assert load_model(demo).desc.output_is_class_scores  # Dense(4, softmax)
    assert not load_model("rnn:10,dense:3@12/4").desc.output_is_class_scores  # linear head
    assert not load_model("lstm:8,dense:1@10/3").desc.output_is_class_scores
