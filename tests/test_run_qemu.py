"""On-device runner (issue 5): exports run on QEMU's Cortex-M boards, every output byte equals
TFLite Micro's, instruction counts are exact, sizes come from the ELF."""
from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from conftest import run_cli
from edgelstm.errors import TargetError, ToolchainError
from edgelstm.run import qemu

LOOP = r"""
#include <stdint.h>
#include "board.h"
int main(void)
{
    uint32_t n;
    uint8_t buf[256];
    if (board_read(&n, 4) != 0 || board_read(buf, sizeof(buf)) != 0) {
        return 2;
    }
    for (int i = 0; i < 256; ++i) {
        buf[i] ^= 0x5a;
    }
    board_counter_start();
    __asm__ volatile("1: subs %0, %0, #1\n\tbne 1b" : "+r"(n) : : "cc");  /* 2 instructions per pass */
    uint64_t ticks = board_counter_stop();
    board_write(buf, sizeof(buf));
    board_write(&ticks, sizeof(ticks));
    return n == 0 ? 0 : 9;
}
"""


@pytest.fixture(scope="module")
def loop_src(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("loop") / "loop.c"
    p.write_text(LOOP)
    return p


@pytest.mark.parametrize("target", ["cortex-m4", "cortex-m33"])
def test_harness_binary_io_and_exact_instruction_count(target, loop_src, tmp_path):
    elf = qemu.build_firmware([loop_src], [], target, tmp_path / "loop.elf")
    payload = bytes(range(256))
    board = qemu.board_for(target)
    counts = []
    for n in (1000, 3_000_000):  # the second wraps the 24-bit SysTick several times
        r = qemu.run_firmware(elf, target, struct.pack("<I", n) + payload)
        assert r.output[:256] == bytes(b ^ 0x5A for b in payload)
        counts.append(qemu.ticks_to_instructions(struct.unpack("<Q", r.output[256:])[0], board))
    # 2 instructions per pass, plus the SysTick wrap handler (~5 instructions per 2^24 ticks)
    # and a fixed overhead of the counter calls
    assert counts[1] - counts[0] == pytest.approx(2 * (3_000_000 - 1000), abs=100)
    assert 0 <= counts[0] - 2 * 1000 < 20


def test_timeout_stops_qemu(tmp_path):
    src = tmp_path / "spin.c"
    src.write_text("int main(void)\n{\n    for (;;) {\n    }\n}\n")
    elf = qemu.build_firmware([src], [], "cortex-m4", tmp_path / "spin.elf")
    with pytest.raises(TargetError, match="did not finish within 2 s"):
        qemu.run_firmware(elf, "cortex-m4", b"", timeout_s=2)


def test_fault_is_reported(tmp_path):
    src = tmp_path / "fault.c"
    src.write_text("#include <stdint.h>\nint main(void)\n{\n    return *(volatile int32_t *)0xFFFFFFF0u;\n}\n")
    elf = qemu.build_firmware([src], [], "cortex-m4", tmp_path / "fault.elf")
    with pytest.raises(TargetError, match="faulted"):
        qemu.run_firmware(elf, "cortex-m4", b"")


def test_missing_toolchain_points_at_make_setup(loop_src, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolchainError, match="make setup"):
        qemu.build_firmware([loop_src], [], "cortex-m4", tmp_path / "x.elf")


def test_unsupported_board_is_a_clear_error():
    with pytest.raises(TargetError, match="no QEMU board for cortex-m0plus"):
        qemu.board_for("cortex-m0plus")


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
