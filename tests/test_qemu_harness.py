"""QEMU Cortex-M harness (firmware_export/boards + edgelstm.run.qemu): binary-safe semihosting
I/O, exit codes, SysTick instruction counts under -icount, ELF sizes, errors, on every board:
mps2-an385/an386/an500/an505, mps3-an547 (Cortex-M55, MVE) and microbit (Cortex-M0 for the M0+)."""
from __future__ import annotations

import random
import struct
from pathlib import Path

import pytest

from edgelstm.errors import TargetError, ToolchainError
from edgelstm.run import qemu

pytestmark = pytest.mark.qemu

# in.bin: u32 n, u32 loop passes, u32 exit code, n bytes.
# out.bin: n bytes xor 0x5a, u64 SysTick ticks of the loop, u32 stack peak, u32 checksum of hx_table.
ECHO = r"""
#include <stdint.h>
#include "board.h"

#define MAX_N 4096u

const uint8_t hx_table[1000] = {1, 2, 3};   /* "model weights": counted by symbol_sizes("hx_") */
static uint8_t buf[MAX_N];

static __attribute__((noinline)) uint32_t deep(uint32_t k)
{
    volatile uint8_t scratch[512];             /* at least 512 bytes of stack */
    for (uint32_t i = 0; i < sizeof(scratch); ++i) {
        scratch[i] = (uint8_t)(i + k);
    }
    return scratch[k % sizeof(scratch)];
}

int main(void)
{
    uint32_t head[3];
    if (board_read(head, sizeof(head)) != 0 || head[0] > MAX_N || board_read(buf, head[0]) != 0) {
        return 2;
    }
    for (uint32_t i = 0; i < head[0]; ++i) {
        buf[i] ^= 0x5au;
    }
    uint32_t n = head[1];
    board_counter_start();
    /* 2 instructions per pass; unified syntax and a low register so ARMv6-M (Thumb-1) assembles it too */
    __asm__ volatile(".syntax unified\n1: subs %0, %0, #1\n\tbne 1b" : "+l"(n) : : "cc");
    uint64_t ticks = board_counter_stop();
    uint32_t sum = deep(head[0]);
    for (uint32_t i = 0; i < sizeof(hx_table); ++i) {
        sum += hx_table[i];
    }
    uint32_t peak = board_stack_peak();
    board_write(buf, head[0]);
    board_write(&ticks, sizeof(ticks));
    board_write(&peak, sizeof(peak));
    board_write(&sum, sizeof(sum));
    return (int)head[2];
}
"""

TARGETS = ["cortex-m0plus", "cortex-m3", "cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55"]


@pytest.fixture(scope="module")
def echo_elfs(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("echo")
    src = d / "echo.c"
    src.write_text(ECHO)
    return {t: qemu.build_firmware([src], [], t, d / f"echo-{t}.elf") for t in TARGETS}


def run_echo(elf: Path, target: str, data: bytes, passes: int = 1, code: int = 0) -> tuple[bytes, int, int, int]:
    r = qemu.run_firmware(elf, target, struct.pack("<III", len(data), passes, code) + data)
    assert r.exit_code == 0
    n = len(data)
    assert len(r.output) == n + 16
    ticks, peak, total = struct.unpack("<QII", r.output[n:])
    return r.output[:n], ticks, peak, total


def test_boards_come_from_the_profiles():
    assert {t: b.machine for t, b in qemu.BOARDS.items()} == {
        "cortex-m0plus": "microbit", "cortex-m3": "mps2-an385", "cortex-m4": "mps2-an386", "cortex-m7": "mps2-an500",
        "cortex-m33": "mps2-an505", "cortex-m55": "mps3-an547"}
    m4, m33 = qemu.BOARDS["cortex-m4"], qemu.BOARDS["cortex-m33"]
    assert "-mcpu=cortex-m4" in m4.cflags and m4.clock_hz == 25e6 and m4.linker_script.name == "mps2.ld"
    assert (m4.flash_origin, m4.ram_origin) == (0x0, 0x20000000)
    assert "-mcpu=cortex-m33" in m33.cflags and m33.clock_hz == 20e6 and m33.linker_script.name == "mps2_an505.ld"
    assert (m33.flash_origin, m33.ram_origin) == (0x10000000, 0x38000000)
    m55, m0 = qemu.BOARDS["cortex-m55"], qemu.BOARDS["cortex-m0plus"]
    assert "-mcpu=cortex-m55" in m55.cflags and m55.clock_hz == 32e6 and m55.linker_script.name == "mps3_an547.ld"
    assert (m55.flash_origin, m55.ram_origin, m55.ram_bytes) == (0x0, 0x20000000, 512 << 10)  # ITCM, DTCM
    assert "-mcpu=cortex-m0plus" in m0.cflags and m0.clock_hz == 16e6 and m0.linker_script.name == "microbit.ld"
    assert (m0.flash_origin, m0.ram_origin, m0.ram_bytes) == (0x0, 0x20000000, 16 << 10)
    assert all(b.linker_script.is_file() for b in qemu.BOARDS.values())


@pytest.mark.parametrize("target", TARGETS)
def test_binary_io_is_exact(target, echo_elfs):
    rng = random.Random(5)
    data = bytes(range(256)) + bytes(rng.randrange(256) for _ in range(3000)) + b"\x00\x00\xff\x1a\r\n"
    out, _, peak, total = run_echo(echo_elfs[target], target, data)
    assert out == bytes(b ^ 0x5A for b in data)
    n = len(data)
    assert total == ((n % 512 + n) & 0xFF) + 1 + 2 + 3  # .data/.rodata reached the program intact
    assert 512 <= peak < 2048  # deep()'s 512-byte frame and not much more


@pytest.mark.parametrize("target", ["cortex-m0plus", "cortex-m4", "cortex-m55"])
def test_empty_input_and_exit_code(target, echo_elfs):
    """SYS_EXIT_EXTENDED carries main's return code out of QEMU on every kind of board."""
    out, _, _, _ = run_echo(echo_elfs[target], target, b"")
    assert out == b""
    with pytest.raises(TargetError, match="exited with code 3"):
        qemu.run_firmware(echo_elfs[target], target, struct.pack("<III", 0, 1, 3))
    with pytest.raises(TargetError, match="exited with code 2: the firmware could not read its input"):
        qemu.run_firmware(echo_elfs[target], target, struct.pack("<III", 10, 1, 0) + b"short")


@pytest.mark.parametrize("target", ["cortex-m0plus", "cortex-m4", "cortex-m33", "cortex-m55"])
def test_loop_instruction_count_is_exact(target, echo_elfs):
    """2 instructions per pass of subs/bne; no SysTick wrap below 2^24 ticks (~655k instructions at 25 MHz).
    The slope pins each board's SysTick clock: 25 MHz (an386), 20 (an505), 32 (an547), 16 (microbit)."""
    board = qemu.board_for(target)
    counts = {}
    for passes in (1, 1000, 100_000, 3_000_000):
        _, ticks, _, _ = run_echo(echo_elfs[target], target, b"x", passes)
        counts[passes] = qemu.ticks_to_instructions(ticks, board)
    assert counts[1000] - counts[1] == pytest.approx(2 * 999, abs=0.1)
    assert counts[100_000] - counts[1000] == pytest.approx(2 * 99_000, abs=0.1)
    assert 2 <= counts[1] < 14  # the loop's 2 instructions + board_counter_start/stop
    # 3e6 passes wrap the 24-bit SysTick 5-12 times; each wrap runs the 5-instruction handler
    wraps = counts[3_000_000] * 2**qemu.ICOUNT_SHIFT * board.clock_hz / 1e9 // 2**24
    assert counts[3_000_000] - counts[1] - 2 * 2_999_999 == pytest.approx(5 * wraps, abs=1)
    # the same run gives the same ticks
    assert run_echo(echo_elfs[target], target, b"x", 1000)[1] == run_echo(echo_elfs[target], target, b"x", 1000)[1]


BUS_ERROR = "#include <stdint.h>\nint main(void)\n{\n    return *(volatile int32_t *)0xFFFFFFF0u;\n}\n"
# ARMv6-M has no unaligned word access: an LDR from an odd address is a HardFault (the microbit
# reads unmapped addresses as 0 instead of raising a bus error)
UNALIGNED = ("#include <stdint.h>\nstatic uint32_t w[2];\nstatic volatile uintptr_t odd;\nint main(void)\n{\n"
             "    odd = (uintptr_t)w + 1u;  /* unknown to the compiler: one LDR, not four LDRB */\n"
             "    return (int)*(volatile uint32_t *)odd;\n}\n")


@pytest.mark.parametrize("target,program", [("cortex-m0plus", UNALIGNED), ("cortex-m33", BUS_ERROR),
                                            ("cortex-m55", BUS_ERROR)],
                         ids=["cortex-m0plus-unaligned", "cortex-m33-bus-error", "cortex-m55-bus-error"])
def test_hardfault_exits_with_its_own_code(target, program, tmp_path):
    src = tmp_path / "fault.c"
    src.write_text(program)
    elf = qemu.build_firmware([src], [], target, tmp_path / "fault.elf")
    with pytest.raises(TargetError, match="code 127: the firmware faulted"):
        qemu.run_firmware(elf, target, b"")


@pytest.mark.parametrize("target", TARGETS)
def test_float_code_runs(target, tmp_path):
    """Hard-float cores need the FPU enabled by Reset_Handler (else UsageFault, exit 127); the M0+ and M3
    use libgcc's soft float."""
    src = tmp_path / "fp.c"
    src.write_text("#include \"board.h\"\nint main(void)\n{\n    volatile float a = 1.5f, b = 2.25f;\n"
                   "    float c = a * b + a;\n    board_write(&c, sizeof(c));\n    return 0;\n}\n")
    elf = qemu.build_firmware([src], [], target, tmp_path / "fp.elf")
    assert struct.unpack("<f", qemu.run_firmware(elf, target, b"").output) == (1.5 * 2.25 + 1.5,)


def test_timeout_kills_qemu(tmp_path):
    src = tmp_path / "spin.c"
    src.write_text("int main(void)\n{\n    for (;;) {\n    }\n}\n")
    elf = qemu.build_firmware([src], [], "cortex-m4", tmp_path / "spin.elf")
    with pytest.raises(TargetError, match="QEMU did not finish within 2 s"):
        qemu.run_firmware(elf, "cortex-m4", b"", timeout_s=2)


def test_sizes_from_the_elf(echo_elfs):
    elf = echo_elfs["cortex-m4"]
    s = qemu.elf_sizes(elf)
    assert set(s) == {"text", "rodata", "data", "bss", "stack"}
    assert s["text"] > 0 and s["rodata"] >= 1000 and s["bss"] >= 4096 and s["stack"] == 0x10000
    assert qemu.symbol_sizes(elf, "hx_") == 1000
    assert qemu.symbol_sizes(elf, "main", exact=True) > 0
    assert qemu.symbol_sizes(elf, "malloc") == 0  # no heap


def test_link_map_gives_bytes_per_source_file(echo_elfs):
    """object_sizes: every linked byte attributed to its source (kernel flash with its tables)."""
    elf = echo_elfs["cortex-m0plus"]
    objs = qemu.object_sizes(elf)
    assert {"echo", "startup", "board"} <= set(objs)
    assert objs["echo"]["rodata"] == 1000 and objs["echo"]["bss"] >= 4096  # hx_table, buf
    assert objs["startup"]["text"] >= 64  # the vector table
    whole = qemu.elf_sizes(elf)
    assert sum(o["text"] for o in objs.values()) == whole["text"]
    assert sum(o["bss"] for o in objs.values()) <= whole["bss"]


def test_cmsis_nn_harness_runs(tmp_path):
    """The CMSIS-NN peer (CMSIS_NN_DIR) builds with our harness and runs a small LSTM, repeatably."""
    from edgelstm.bench import cmsis_nn

    d, why = cmsis_nn.cmsis_nn_dir()
    if d is None:
        pytest.skip(why)
    shape = cmsis_nn.Shape(4, 8, 5)
    a = cmsis_nn.measure(d, shape, "cortex-m4", tmp_path / "a")
    b = cmsis_nn.measure(d, shape, "cortex-m4", tmp_path / "b")
    assert a["status"] == 0 and a["output_spread"] > 1  # it ran and did not saturate to one value
    assert a["instructions"] == b["instructions"] > shape.macs / 2  # SMLAD: 2 MACs per instruction at best
    assert a["flash_data"] >= 4 * 8 * (4 + 8) and a["flash_code"] > 1000
    assert a["ram_buffers"]["output_sequence"] == 5 * 8 and a["stack_peak"] > 0


def test_compile_error_is_a_toolchain_error(tmp_path):
    src = tmp_path / "bad.c"
    src.write_text("int main(void)\n{\n    int unused;\n    return 0;\n}\n")  # -Werror
    with pytest.raises(ToolchainError, match="unused"):
        qemu.build_firmware([src], [], "cortex-m4", tmp_path / "bad.elf")


def test_missing_tools_say_make_setup(echo_elfs, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "")
    with pytest.raises(ToolchainError, match=r"arm-none-eabi-gcc not found.*make setup"):
        qemu.build_firmware([tmp_path / "x.c"], [], "cortex-m4", tmp_path / "x.elf")
    with pytest.raises(ToolchainError, match=r"qemu-system-arm not found.*make setup"):
        qemu.run_firmware(echo_elfs["cortex-m4"], "cortex-m4", b"")


def test_mve_code_runs_on_the_m55(tmp_path):
    """Helium (MVE) instructions need CPACR CP10/CP11 enabled by Reset_Handler, as the FPU does."""
    src = tmp_path / "mve.c"
    src.write_text("""#include <arm_mve.h>
#include "board.h"
#if __ARM_FEATURE_MVE != 3
#error "-mcpu=cortex-m55 -mfloat-abi=hard must give integer and float MVE"
#endif
int main(void)
{
    static int8_t a[16], b[16];
    for (int i = 0; i < 16; ++i) {
        a[i] = (int8_t)(i - 8);
        b[i] = (int8_t)(3 * i);
    }
    int32_t dot = vmladavq_s8(vld1q_s8(a), vld1q_s8(b));  /* 16 int8 MACs in one instruction */
    board_write(&dot, sizeof(dot));
    return 0;
}
""")
    elf = qemu.build_firmware([src], [], "cortex-m55", tmp_path / "mve.elf")
    want = sum((i - 8) * 3 * i for i in range(16))
    assert struct.unpack("<i", qemu.run_firmware(elf, "cortex-m55", b"").output) == (want,)


def test_armv6m_vector_table_has_only_its_handlers(echo_elfs, tmp_path):
    """ARMv6-M reserves the MemManage/BusFault/UsageFault/SecureFault and DebugMonitor slots: zero there."""
    import subprocess

    def vectors(target: str) -> list[int]:
        elf = echo_elfs[target]
        sym = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True, check=True).stdout
        addr = next(int(line.split()[0], 16) for line in sym.splitlines() if line.endswith(" vector_table"))
        out = tmp_path / f"{target}.bin"
        subprocess.run(["arm-none-eabi-objcopy", "-O", "binary", "--only-section=.text", str(elf), str(out)],
                       check=True)
        dump = out.read_bytes()
        start = addr - qemu.BOARDS[target].flash_origin
        return list(struct.unpack("<16I", dump[start:start + 64]))

    v6, v8 = vectors("cortex-m0plus"), vectors("cortex-m33")
    assert v6[0] == 0x20000000 + (16 << 10)  # the stack takes the top of the microbit's 16 KB
    assert all(v6[i] & 1 for i in (1, 2, 3, 11, 14, 15))  # reset, NMI, HardFault, SVCall, PendSV, SysTick (Thumb)
    assert [v6[i] for i in (4, 5, 6, 7, 8, 9, 10, 12, 13)] == [0] * 9
    assert all(v8[i] & 1 for i in (4, 5, 6, 7, 12))


def test_microbit_ram_limit_is_a_clear_build_error(tmp_path):
    """16 KB of RAM: the stack takes what .data/.bss leave, at least 2 KB, else the link fails saying so."""
    src = tmp_path / "big.c"
    src.write_text("#include <stdint.h>\nvolatile uint8_t big[15 * 1024];\nint main(void)\n{\n"
                   "    big[0] = 1;\n    return big[0] - 1;\n}\n")
    with pytest.raises(ToolchainError, match="less than 2 KB of the 16 KB RAM left for the stack"):
        qemu.build_firmware([src], [], "cortex-m0plus", tmp_path / "big.elf")


def test_unknown_target():
    with pytest.raises(TargetError, match="no QEMU board for host"):
        qemu.board_for("host")
