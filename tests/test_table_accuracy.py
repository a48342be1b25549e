"""Issue 12: int8 accuracy within 2 points of float on held-out data, for some of the shipped table models
(edgelstm/models/table/, trained by `python -m edgelstm.bench.table_models`; make bench measures all of them
on both data sets into bench/accuracy.md). Calibrated on the train split, measured on the test split:
BasicMotions (40 series: one is 2.5 points) and JapaneseVowels (370 series). The SimpleRNN and the relu GRU
are the two that all-int8 lost (BasicMotions -7.5 / +5.0, JapaneseVowels 0.0 / -8.9 points); int16 activations
(convert.recurrent16) and the SimpleRNN's data-aware rounding (lower.rounding) bring them back.
"""
from __future__ import annotations

import pytest

from edgelstm.bench.accuracy import (
    MAX_DROP_POINTS,
    convert_int8,
    load_table_model,
    pick_engine,
    targets,
)

#: (data set, model) -> float accuracy floor on the test split (trained: BasicMotions 100 %, 100 %, 80 %, 92.5 %;
#: JapaneseVowels 93-95 %; a broken file or data pipeline falls far below)
MODELS = {("basicmotions", "har_cnn_lstm"): 0.85, ("basicmotions", "masked_lstm"): 0.85,
          ("basicmotions", "simple_rnn"): 0.75, ("basicmotions", "gru_relu"): 0.85,
          ("vowels", "simple_rnn"): 0.85, ("vowels", "gru_relu"): 0.85}
TEST_SERIES = {"basicmotions": 40, "vowels": 370}


@pytest.fixture(scope="module")
def manifests(tmp_path_factory):
    """TFLite int8 of each model, converted once: sequence, or stateful for the masked LSTM."""
    out = {}
    for dataset, name in MODELS:
        fmt, variant = targets(name)[0]
        model = load_table_model(name, dataset)
        assert model.validation.y is not None and len(model.validation) == TEST_SERIES[dataset]
        out[dataset, name] = convert_int8(model, tmp_path_factory.mktemp(name), fmt, variant)
    return out


@pytest.mark.parametrize("dataset,name", sorted(MODELS))
def test_int8_accuracy_within_two_points_of_float(manifests, dataset, name):
    (art,) = manifests[dataset, name].artifacts
    n = TEST_SERIES[dataset]
    assert art["quant"] == "int8" and art["variant"] == ("stateful" if name == "masked_lstm" else "sequence")
    for engine in ("tflm", "litert"):  # TFLite Micro (what the C runtime matches) and LiteRT
        m = art["metrics"][engine]
        assert m["samples"] == n, (engine, m)
        assert m["keras_accuracy"] >= MODELS[dataset, name], (engine, m)
        diff = 100 * abs(m["keras_accuracy"] - m["accuracy"])
        assert diff <= MAX_DROP_POINTS + 1e-9, (f"{name} {engine}: int8 {m['accuracy']:.3f} vs float "
                                                f"{m['keras_accuracy']:.3f}; test series that differ: "
                                                f"{m['disagreements']}")
        assert 0.0 <= m["agreement"] <= 1.0 and len(m["disagreements"]) == round(n * (1 - m["agreement"]))
    assert pick_engine(art)[0] == "tflm"
