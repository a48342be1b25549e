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


@pytest.mark.parametrize("args,message", [
    (["{tmp}"], "is not an edgelstm export"),
    (["{export}", "--target", "host"], "no QEMU board for host"),
    (["{export}", "--vectors", "0"], "must be at least 1"),
])
def test_bad_run_requests_fail_in_one_line(args, message, gru_export, tmp_path):
    proc = run_cli("run", *[a.format(tmp=tmp_path, export=gru_export) for a in args], check=False)
    assert proc.returncode != 0
    assert message in proc.stderr.strip().splitlines()[-1]
