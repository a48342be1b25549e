"""Cross-compile firmware for QEMU's Cortex-M boards and run it.

Boards (QEMU 7.2): mps2-an385 Cortex-M3, mps2-an386 Cortex-M4F, mps2-an500 Cortex-M7,
mps2-an505 Cortex-M33 (linked at the secure aliases), mps3-an547 Cortex-M55 with MVE (ITCM/DTCM),
microbit (nRF51822) Cortex-M0 for cortex-m0plus. QEMU 7.2 has no Cortex-M0+ model: the M0+ and the
M0 implement the same ARMv6-M instruction set (the M0+ differs in pipeline length, the optional
MPU/VTOR and the single-cycle I/O port, none of which the firmware uses), so code built with
-mcpu=cortex-m0plus runs unchanged on QEMU's Cortex-M0 and the instruction counts are the M0+'s.
Compiler flags, machine and clock come from profiles/<target>.toml [toolchain]; the startup code
and board API (firmware_export/boards/mps2/startup.c, board.c) are common to all boards, each board
has its linker script. I/O goes through semihosting files in.bin / out.bin in a fresh working
directory; the exit code through SYS_EXIT_EXTENDED.

Instruction counts: QEMU implements no cycle counter (DWT reads 0). Under ``-icount shift=N``
every instruction advances the virtual clock by 2^N ns, and SysTick, clocked by the core clock
f, ticks every 1e9/f ns: instructions = ticks * 2^-N * 1e9 / f, exact and repeatable. Measured
SysTick clocks (nop/subs-bne blocks of known length): 25 MHz on an385/an386/an500, 20 MHz on
an505, 32 MHz on an547 (32.768 ticks per instruction at shift=10), 16 MHz on microbit (16.384).
"""
from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .. import procs
from ..errors import TargetError, ToolchainError
from ..export.toolchain import BOARDS as BOARDS_DIR
from ..export.toolchain import WARNINGS, need, run_compiler

ICOUNT_SHIFT = 10  # 1.024 us per instruction: 25.6 SysTick ticks per instruction at 25 MHz, 16.384 at 16 MHz
HARNESS = BOARDS_DIR / "mps2"  # startup.c, board.c, board.h: common to every board

#: QEMU machine -> (linker script under firmware_export/boards, flash/code origin, RAM origin, RAM bytes)
_MEMORY: dict[str, tuple[str, int, int, int]] = {
    "mps2-an385": ("mps2/mps2.ld", 0x0000_0000, 0x2000_0000, 4 << 20),
    "mps2-an386": ("mps2/mps2.ld", 0x0000_0000, 0x2000_0000, 4 << 20),
    "mps2-an500": ("mps2/mps2.ld", 0x0000_0000, 0x2000_0000, 4 << 20),
    "mps2-an505": ("mps2/mps2_an505.ld", 0x1000_0000, 0x3800_0000, 2 << 20),  # secure aliases of code SRAM / SRAM
    "mps3-an547": ("mps3/mps3_an547.ld", 0x0000_0000, 0x2000_0000, 512 << 10),  # ITCM / DTCM
    "microbit": ("microbit/microbit.ld", 0x0000_0000, 0x2000_0000, 16 << 10),  # nRF51822 flash / RAM
}
_TARGETS = ("cortex-m0plus", "cortex-m3", "cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55")

#: firmware exit codes the harness uses (startup.c, board.c)
EXIT_MEANING = {2: "the firmware could not read its input", 4: "the firmware could not open its output",
                5: "the firmware could not write its output",
                0x7E: "the firmware took an unexpected interrupt", 0x7F: "the firmware faulted (HardFault)"}


@dataclass(frozen=True)
class Board:
    target: str
    machine: str
    linker_script: Path
    cflags: tuple[str, ...]
    clock_hz: float
    flash_origin: int
    ram_origin: int
    ram_bytes: int


@dataclass
class RunResult:
    output: bytes
    exit_code: int
    stderr: str


def _load_board(target: str) -> Board:
    """The board of one target from profiles/<target>.toml [toolchain] (read by profile.targets)."""
    from ..profile.targets import load_target

    tc = load_target(target).toolchain
    try:
        machine, cflags, mhz = tc["qemu_machine"], tc["cflags"], tc["qemu_clock_mhz"]
    except KeyError as e:
        raise TargetError(f"profiles/{target}.toml: [toolchain] has no {e}; restore it from git") from e
    if machine not in _MEMORY:
        raise TargetError(f"profiles/{target}.toml names QEMU machine {machine!r}; the harness supports "
                          f"{', '.join(_MEMORY)}")
    script, flash, ram, ram_bytes = _MEMORY[machine]
    return Board(target, machine, BOARDS_DIR / script, tuple(cflags), float(mhz) * 1e6, flash, ram, ram_bytes)


BOARDS: dict[str, Board] = {t: _load_board(t) for t in _TARGETS}


def supported_targets() -> list[str]:
    return list(BOARDS)


def board_for(target: str) -> Board:
    if target not in BOARDS:
        raise TargetError(f"no QEMU board for {target}; edgelstm run supports {', '.join(BOARDS)} "
                          f"(use edgelstm export --build for flash and RAM on other cores)")
    return BOARDS[target]


def build_firmware(sources: list[Path], include_dirs: list[Path], target: str, out_elf: Path,
                   defines: dict[str, str] | None = None, opt: str = "-O2") -> Path:
    """Compile sources + the board harness with arm-none-eabi-gcc and link for the board.

    One object per source (obj/<stem>.o beside the ELF, compiled in parallel), so that the link map
    (<elf>.map, read by object_sizes) attributes every linked byte to its source file. No start files
    and no heap: newlib-nano is linked only for leaf functions (memcpy, libm); anything needing _sbrk
    (malloc) or other syscalls fails to link."""
    board = board_for(target)
    cc = need("arm-none-eabi-gcc")
    flags = [*board.cflags, *WARNINGS, opt, "-ffunction-sections", "-fdata-sections",
             "-fno-tree-loop-distribute-patterns", "-fno-common"]
    flags += [f"-D{k}={v}" for k, v in (defines or {}).items()]
    flags += [f"-I{HARNESS}"] + [f"-I{d}" for d in include_dirs]
    srcs = [Path(s) for s in sources] + [HARNESS / "startup.c", HARNESS / "board.c"]
    out_elf = Path(out_elf)
    obj_dir = out_elf.parent / f"{out_elf.stem}.obj"
    obj_dir.mkdir(parents=True, exist_ok=True)
    objs, seen = [], set()
    for src in srcs:
        stem = src.stem
        while stem in seen:  # two sources of one name: keep both objects apart
            stem += "_"
        seen.add(stem)
        objs.append(obj_dir / f"{stem}.o")

    def compile_one(pair: tuple[Path, Path]) -> None:
        src, obj = pair
        run_compiler([cc, *flags, "-c", str(src), "-o", str(obj)], f"firmware build for {target} ({src.name})")

    with ThreadPoolExecutor(max_workers=min(len(objs), os.cpu_count() or 1)) as pool:
        list(pool.map(compile_one, zip(srcs, objs)))  # re-raises the first compiler error
    link = ["-nostartfiles", "--specs=nano.specs", f"-T{board.linker_script}", "-Wl,--gc-sections",
            f"-Wl,-Map={out_elf.with_suffix('.map')}"]
    run_compiler([cc, *board.cflags, *map(str, objs), *link, "-lm", "-o", str(out_elf)],
                 f"firmware build for {target}")
    return out_elf


def object_sizes(elf: Path) -> dict[str, dict[str, int]]:
    """Linked bytes per object file (by stem, e.g. ``lstm_step_s8``) and section kind, from the
    link map build_firmware writes beside the ELF: text (code, vectors, exception tables), rodata
    (const data such as weights and tables), data (initialised RAM, also stored in flash) and bss.
    Only what survived --gc-sections counts; library objects are keyed ``lib:<archive member>``."""
    sizes: dict[str, dict[str, int]] = {}
    lines = Path(elf).with_suffix(".map").read_text().splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.startswith("Linker script and memory map"))
    except StopIteration:
        raise ToolchainError(f"{Path(elf).with_suffix('.map')} has no memory map; rebuild the firmware") from None
    pending = None  # an input section whose address and size are on the next line
    for line in lines[start:]:
        parts = line.split()
        if pending is not None and len(parts) >= 3 and parts[0].startswith("0x"):
            parts = [pending, *parts]
        elif not line.startswith((" .", " COMMON")):
            pending = None
            continue
        pending = None
        if len(parts) == 1:
            pending = parts[0]
            continue
        if len(parts) < 4 or not parts[1].startswith("0x") or not parts[2].startswith("0x"):
            continue
        name, size, origin = parts[0], int(parts[2], 16), " ".join(parts[3:])
        kind = _section_kind(name)
        if kind is None or size == 0:
            continue
        key = _object_key(origin)
        sizes.setdefault(key, {"text": 0, "rodata": 0, "data": 0, "bss": 0})[kind] += size
    return sizes


def _section_kind(name: str) -> str | None:
    if name.startswith((".text", ".ARM.exidx", ".ARM.extab", ".vectors")):
        return "text"
    if name.startswith(".rodata"):
        return "rodata"
    if name.startswith(".data"):
        return "data"
    if name.startswith((".bss", "COMMON")):
        return "bss"
    return None


def _object_key(origin: str) -> str:
    """``/tmp/x/firmware.obj/fc_s8.o`` -> ``fc_s8``; ``.../libc_nano.a(libc_a-memcpy.o)`` -> ``lib:memcpy``."""
    if "(" in origin and origin.endswith(")"):
        member = origin[origin.index("(") + 1:-1]
        return "lib:" + Path(member).stem.split("-", 1)[-1]
    return Path(origin).stem


def flash_bytes(sizes: dict[str, int]) -> int:
    """Flash of one object_sizes entry: code, const data and the initial values of .data."""
    return sizes["text"] + sizes["rodata"] + sizes["data"]


def qemu_command(elf: Path, board: Board, icount_shift: int) -> list[str]:
    return [need("qemu-system-arm"), "-M", board.machine, "-nographic", "-monitor", "none", "-serial", "null",
            "-semihosting-config", "enable=on,target=native", "-icount", f"shift={icount_shift}",
            "-kernel", str(Path(elf).resolve())]


def run_firmware(elf: Path, target: str, input_bytes: bytes, timeout_s: float = 60,
                 icount_shift: int = ICOUNT_SHIFT) -> RunResult:
    """Run an ELF on the target's board with input_bytes as in.bin; return out.bin and the exit code.

    A run longer than timeout_s (QEMU is killed) or a non-zero exit code raises TargetError."""
    board = board_for(target)
    if not Path(elf).is_file():
        raise TargetError(f"firmware {elf} not found; build it with build_firmware")
    cmd = qemu_command(elf, board, icount_shift)
    with procs.temp_dir("edgelstm-qemu-") as work:
        (work / "in.bin").write_bytes(input_bytes)
        try:  # QEMU is killed when the timeout expires, and dies with edgelstm (procs guard)
            proc = procs.run(procs.guarded_command(cmd[0], cmd[1:], python_module=False), cwd=work,
                             stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout_s)
        except subprocess.TimeoutExpired as e:
            raise TargetError(f"QEMU did not finish within {timeout_s:g} s ({board.machine}; raise --timeout, "
                              "or use fewer --vectors)") from e
        except OSError as e:
            raise ToolchainError(f"qemu-system-arm could not start ({e}); run `make setup`") from e
        out = (work / "out.bin").read_bytes() if (work / "out.bin").exists() else b""
    err = proc.stderr.decode(errors="replace")
    if proc.returncode != 0:
        what = EXIT_MEANING.get(proc.returncode, "")
        raise TargetError(f"QEMU {board.machine} exited with code {proc.returncode}"
                          f"{': ' + what if what else ''} {err.strip()[:200]}".strip())
    return RunResult(out, proc.returncode, err)


def ticks_to_instructions(ticks: int, board: Board, icount_shift: int = ICOUNT_SHIFT) -> float:
    """SysTick ticks under -icount shift=N -> instructions: ticks * (1e9 / f_clk) / 2^N.

    Measured (QEMU 7.2, `subs; bne` loop of n passes = 2n instructions, n = 1 .. 3e6, every
    board): at shift=10 the slope is 2.0000 instructions per pass, error <= 0.01 instruction
    over 2e5 instructions (resolution 1/25.6 instruction at 25 MHz, 1/20.5 at 20 MHz, 1/32.8 at
    32 MHz, 1/16.4 at 16 MHz); the only other terms are the fixed board_counter_start/stop
    overhead (~8 instructions) and the SysTick wrap handler (5 instructions per 2^24 ticks, i.e.
    every ~655k instructions at 25 MHz, 7.6 ppm), both real executed instructions. Coarser shifts
    quantise: shift=7 -> 1/3.2 instruction, shift=4 -> 2.5 instructions, shift=0 -> 40
    instructions per tick (at 25 MHz)."""
    return ticks * (1e9 / board.clock_hz) / float(1 << icount_shift)


def _tool_output(tool: str, elf: Path, *args: str) -> str:
    r = subprocess.run([need(tool), *args, str(elf)], capture_output=True, text=True)
    if r.returncode != 0:
        raise ToolchainError(f"{tool} failed on {elf}: {r.stderr.strip()[:300]}")
    return r.stdout


def elf_sizes(elf: Path) -> dict[str, int]:
    """Bytes per section kind of a linked ELF: text (vectors, code, exception tables), rodata,
    data, bss and stack (the .stack reservation of the linker script)."""
    sizes = {"text": 0, "rodata": 0, "data": 0, "bss": 0, "stack": 0}
    for line in _tool_output("arm-none-eabi-size", elf, "-A").splitlines():
        parts = line.split()
        if len(parts) < 2 or not parts[0].startswith(".") or not parts[1].isdigit():
            continue
        name = parts[0]
        key = "text" if name.startswith(".ARM.exidx") else name[1:].split(".")[0]
        if key in sizes:
            sizes[key] += int(parts[1])
    return sizes


def symbol_sizes(elf: Path, prefix: str, exact: bool = False) -> int:
    """Summed sizes of the symbols whose names start with prefix (or equal it, exact=True),
    e.g. ``hx_`` for a model's weights and functions versus the runtime kernels."""
    total = 0
    for line in _tool_output("arm-none-eabi-nm", elf, "-S", "--size-sort").splitlines():
        parts = line.split()
        if len(parts) == 4 and (parts[3] == prefix if exact else parts[3].startswith(prefix)):
            total += int(parts[1], 16)
    return total
