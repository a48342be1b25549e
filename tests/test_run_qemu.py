"""On-device runner (issue 5): exports run on QEMU's Cortex-M boards, every output byte equals
TFLite Micro's, instruction counts repeat, sizes come from the ELF. The harness itself (I/O,
exact instruction counts, faults, timeouts, missing tools) is tested in test_qemu_harness.py."""
from __future__ import annotations

import json

import pytest

from conftest import run_cli


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("target", ["cortex-m4", "cortex-m33"])
def test_demo_export_on_qemu_is_bit_exact(kind, target, request):
    export = request.getfixturevalue(f"{kind}_export")
    proc = run_cli("run", str(export), "--target", target, "--vectors", "12", "--json")
    r = json.loads(proc.stdout)
    info = json.loads((export / "export.json").read_text())
    assert r["target"] == target and r["board"] == {"cortex-m4": "mps2-an386", "cortex-m33": "mps2-an505"}[target]
    assert r["vectors"] == 12 and r["outputs_compared"] == 12 * 4
    assert r["mismatches"] == 0 and r["max_abs_diff_lsb"] == 0
    assert r["macs_per_inference"] == info["macs"]["per_run"]
    assert r["instructions_per_inference"] > r["macs_per_inference"]  # at least one instruction per MAC
    assert r["instructions_per_mac"] == pytest.approx(r["instructions_per_inference"] / r["macs_per_inference"],
                                                      rel=1e-3)
    assert "SysTick" in r["instruction_counter"] and "-icount" in r["instruction_counter"]
    f, ram = r["flash_bytes"], r["ram_bytes"]
    assert f["total"] == f["model"] + f["runtime"] and f["model"] >= info["model"]["params"]
    assert ram["state"] == info["memory"]["state_struct_bytes"] and 0 < ram["stack_peak"] < 4096


@pytest.mark.parametrize("target,board", [("cortex-m55", "mps3-an547"), ("cortex-m0plus", "microbit")])
def test_demo_exports_on_the_m55_and_m0plus_boards_are_bit_exact(target, board, lstm_export, gru_export):
    """The same exports on QEMU's Cortex-M55 (MVE auto-vectorised by -mcpu=cortex-m55) and on the microbit's
    Cortex-M0 for the M0+ (ARMv6-M, 16 KB RAM); through the API to keep the test short."""
    from edgelstm.run.api import run_on_target

    for export in (lstm_export, gru_export):
        r = run_on_target(export, target, n_vectors=6)
        assert (r["target"], r["board"]) == (target, board)
        assert r["outputs_compared"] == 6 * 4 and r["mismatches"] == 0 and r["max_abs_diff_lsb"] == 0
        assert r["instructions_per_inference"] > r["macs_per_inference"] / 4  # MVE: up to 16 MACs per instruction
        assert 0 < r["ram_bytes"]["stack_peak"] < 4096 and r["flash_bytes"]["runtime"] > 0
        kernels = r["flash_bytes"]["kernels"]  # per runtime source file, from the link map
        assert sum(kernels.values()) == r["flash_bytes"]["runtime"] and min(kernels.values()) > 0
        if export is lstm_export:
            assert kernels["sigmoid_s16"] >= 514  # its 257-entry uint16 sigmoid table is flash too


def test_instruction_counts_repeat_exactly(gru_export):
    from edgelstm.run.api import run_on_target

    a = run_on_target(gru_export, "cortex-m4", n_vectors=3)
    b = run_on_target(gru_export, "cortex-m4", n_vectors=3)
    assert a["instructions_per_inference"] == b["instructions_per_inference"]


def test_calibration_feeds_the_profiler(gru_export, tmp_path, monkeypatch):
    """--calibrate writes instructions/MAC into the target profile; profile --calibrated uses it."""
    import shutil

    from edgelstm.profile import targets
    from edgelstm.run.api import run_on_target, write_calibration

    prof = tmp_path / "cortex-m4.toml"
    shutil.copy(targets.resolve_path("cortex-m4"), prof)
    r = run_on_target(gru_export, "cortex-m4", n_vectors=2)
    r["target"] = str(prof)  # write into the copy, not the repository's profile
    write_calibration(r)
    t = targets.load_target(str(prof))
    assert t.calibrated_instructions_per_mac == pytest.approx(r["instructions_per_mac"])
    assert "QEMU mps2-an386" in t.calibration["source"]


def test_kernel_calibration_format(tmp_path):
    """make bench's [calibration.kernels]: fitted terms, flash per file; rewriting it, or [calibration]
    (edgelstm run --calibrate), leaves the other intact."""
    import shutil

    import numpy as np

    from edgelstm.bench import kernels
    from edgelstm.profile import targets

    rng = np.random.default_rng(0)
    rows = [[1, t, t * h, t * i, t * 4 * h * (i + h)] for i, h, t in rng.integers(2, 100, size=(8, 3))]
    want = {"per_call": 300.0, "per_step": 80.0, "per_unit": 25.0, "per_input": 3.0, "per_mac": 1.5}
    y = [sum(c * v for c, v in zip(r, want.values())) for r in rows]
    terms, err = kernels.fit(rows, y, kernels.RECURRENT_TERMS)
    assert terms == pytest.approx(want, rel=1e-6) and err < 1e-9
    terms, _ = kernels.fit([[1, n] for n in range(1, 9)], [50 - n for n in range(1, 9)], ("per_call", "per_element"))
    assert terms["per_element"] == 0.0 and terms["per_call"] > 0  # a negative term is dropped, the rest refitted

    prof = tmp_path / "cortex-m4.toml"
    shutil.copy(targets.resolve_path("cortex-m4"), prof)
    per = {"lstm": {"terms": want, "max_rel_error": 0.01, "shapes": 8,
                    "flash_files": {"lstm_step_s8": 2000, "sigmoid_s16": 514}},
           "mul": {"error": "mul_s8.c not found"}}
    kernels.write_kernel_calibration("cortex-m4", "mps2-an386", per, prof)
    once = prof.read_text()
    kernels.write_kernel_calibration("cortex-m4", "mps2-an386", per, prof)
    assert prof.read_text() == once  # replaced, not appended
    targets.write_calibration(str(prof), 9.5, "test")
    cal = targets.load_target(str(prof)).calibration
    assert cal["instructions_per_mac"] == 9.5
    lstm = cal["kernels"]["lstm"]
    assert lstm["per_mac"] == 1.5 and lstm["flash_bytes"] == 2514 and lstm["flash_files"]["sigmoid_s16"] == 514
    assert "mul" not in cal["kernels"] and "# mul: not measured" in prof.read_text()


@pytest.mark.parametrize("args,message", [
    (["{tmp}"], "is not an edgelstm export"),
    (["{export}", "--target", "host"], "no QEMU board for host"),
    (["{export}", "--vectors", "0"], "must be at least 1"),
])
def test_bad_run_requests_fail_in_one_line(args, message, gru_export, tmp_path):
    proc = run_cli("run", *[a.format(tmp=tmp_path, export=gru_export) for a in args], check=False)
    assert proc.returncode != 0
    assert message in proc.stderr.strip().splitlines()[-1]
