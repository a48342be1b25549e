"""edgelstm profile --calibrated predicts what edgelstm run measures (issue 11): the per-kernel cost model
(profile/kernel_costs.py) on the profiles' [calibration.kernels] tables, against QEMU runs of the demo
exports: instructions per inference within 5 %, flash (model file + runtime kernels, as run reports it)
within 2 %."""
from __future__ import annotations


import pytest

from edgelstm.profile import kernel_costs


def _table(name: str, **terms: float) -> kernel_costs.KernelTable:
    pad = int(terms.pop("mac_padding", 1))
    return kernel_costs.KernelTable(name, dict(terms), pad, {f"{name}_s8": 100})


def test_kernel_formulas_by_hand():
    lstm = _table("lstm", per_call=1000, per_step=50, per_unit=200, per_input=2, per_mac=1.5, mac_padding=4,
                  mode_zero_per_unit=20)
    # T=10, I=6 -> pad 8, H=16: MACs/step 4*16*(8+16) = 1536
    # step = 50 + 200*16 + 2*6 + 1.5*1536 = 50 + 3200 + 12 + 2304 = 5566; run = 1000 + 10*5566 = 56660
    use = kernel_costs.KernelUse("lstm", "l0", steps=10, inputs=6, units=16)
    assert kernel_costs.instructions(use, lstm) == pytest.approx(56660)
    zero = kernel_costs.KernelUse("lstm", "l0", steps=10, inputs=6, units=16, mode="zero")
    assert kernel_costs.instructions(zero, lstm) == pytest.approx(56660 + 10 * 20 * 16)
    # fc 16 -> 4, twice: 2 * (60 + 50*4 + 0.5*16 + 5*64) = 2 * 588
    fc = _table("fc", per_call=60, per_unit=50, per_input=0.5, per_mac=5)
    assert kernel_costs.instructions(kernel_costs.KernelUse("fc", "d", calls=2, inputs=16, units=4), fc) == 1176
    sm = _table("softmax", per_call=300, per_element=400)
    assert kernel_costs.instructions(kernel_costs.KernelUse("softmax", "d", elements=4), sm) == 1900


def test_prediction_sums_kernels_and_counts_each_file_once(lstm_model):
    from edgelstm.profile.counts import count_model

    counts = count_model(lstm_model.desc, "int8")
    tables = {n: _table(n, per_call=10, per_step=1, per_unit=1, per_input=1, per_mac=1, per_element=1)
              for n in ("lstm", "fc", "softmax")}
    tables["lstm"] = kernel_costs.KernelTable("lstm", tables["lstm"].terms, 1, {"lstm_step_s8": 500, "sigmoid_s16": 50})
    cal = kernel_costs.KernelCalibration("board", "2026-01-01", "hand", tables)
    p = kernel_costs.predict(counts["layers"], counts["seq_len"], cal, 2.0, 100.0, model_flash_bytes=1000)
    assert [r["kernel"] for r in p["kernels"]] == ["lstm", "fc", "softmax"]
    assert p["instructions"] == sum(r["instructions"] for r in p["kernels"])
    assert p["latency_us"] == pytest.approx(p["instructions"] * 2.0 / 100.0)
    assert p["flash"]["total"] == 1000 + 550 + 100 + 100


def test_without_kernel_tables_the_per_mac_figure_is_used_and_said(lstm_model, tmp_path):
    from edgelstm.profile import profile, targets

    prof = tmp_path / "cortex-m4.toml"
    text = targets.resolve_path("cortex-m4").read_text()
    prof.write_text(text[:text.index("[calibration.kernels]")])
    t = profile(lstm_model.desc, str(prof), calibrated=True)["targets"]["cortex-m4"]
    assert t["model"] == "per-MAC (measured)" and t["kernel_model"] is None
    assert any("no [calibration.kernels]" in n for n in t["notes"])
    full = profile(lstm_model.desc, "cortex-m4", calibrated=True)["targets"]["cortex-m4"]
    assert full["model"] == "per-kernel" and full["instructions"] > 0


@pytest.mark.parametrize("target", ["cortex-m4", "cortex-m55"])
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_calibrated_profile_predicts_the_qemu_run(kind, target, request):
    from edgelstm.profile import profile
    from edgelstm.profile.report import to_markdown
    from edgelstm.run.api import run_on_target

    export = request.getfixturevalue(f"{kind}_export")
    desc = request.getfixturevalue(f"{kind}_model").desc
    report = profile(desc, target, "int8", calibrated=True, export=str(export))
    t = report["targets"][target]
    assert t["model"] == "per-kernel"
    r = run_on_target(export, target, n_vectors=2)
    assert r["mismatches"] == 0
    instr, flash = r["instructions_per_inference"], r["flash_bytes"]["total"]
    assert abs(t["instructions"] - instr) / instr <= 0.05, (t["instructions"], instr)
    assert abs(t["flash_bytes"] - flash) / flash <= 0.02, (t["flash_bytes"], flash)
    md = to_markdown(report)
    assert "Per-kernel prediction" in md and "make bench" in md
