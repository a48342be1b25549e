"""Cross-compile firmware for QEMU's MPS2 Cortex-M boards and run it.

Boards (QEMU 7.2): mps2-an385 Cortex-M3, mps2-an386 Cortex-M4F, mps2-an500 Cortex-M7,
mps2-an505 Cortex-M33 (linked at the secure aliases). Compiler flags, machine and clock come
from profiles/<target>.toml [toolchain]. I/O goes through semihosting files in.bin / out.bin
in a fresh working directory; the exit code through SYS_EXIT_EXTENDED.

Instruction counts: QEMU implements no cycle counter (DWT reads 0). Under ``-icount shift=N``
every instruction advances the virtual clock by 2^N ns, and SysTick, clocked by the core clock
f, ticks every 1e9/f ns: instructions = ticks * 2^-N * 1e9 / f, exact and repeatable.
"""
from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import TargetError
from ..export.toolchain import BOARDS as BOARDS_DIR
from ..export.toolchain import WARNINGS, need, run_compiler

ICOUNT_SHIFT = 10  # 1.024 us per instruction: ~25 SysTick ticks per instruction at 25 MHz
HARNESS = BOARDS_DIR / "mps2"

#: target -> (QEMU machine, linker script)
_MACHINES = {
    "cortex-m3": ("mps2-an385", "mps2.ld"),
    "cortex-m4": ("mps2-an386", "mps2.ld"),
    "cortex-m7": ("mps2-an500", "mps2.ld"),
    "cortex-m33": ("mps2-an505", "mps2_an505.ld"),
}


@dataclass(frozen=True)
class Board:
    target: str
    machine: str
    linker_script: Path
    cflags: tuple[str, ...]
    clock_hz: float


@dataclass
class RunResult:
    output: bytes
    exit_code: int
    stderr: str


def supported_targets() -> list[str]:
    return list(_MACHINES)


def board_for(target: str) -> Board:
    from ..profile.targets import load_target

    if target not in _MACHINES:
        raise TargetError(f"no QEMU board for {target}; edgelstm run supports {', '.join(_MACHINES)} "
                          f"(use edgelstm export --build for flash and RAM on other cores)")
    prof = load_target(target)
    tc = prof.toolchain
    machine, script = _MACHINES[target]
    if tc.get("qemu_machine") != machine:
        raise TargetError(f"profiles/{target}.toml names QEMU machine {tc.get('qemu_machine')!r}, edgelstm's "
                          f"harness is for {machine}")
    return Board(target, machine, HARNESS / script, tuple(tc["cflags"]), float(tc["qemu_clock_mhz"]) * 1e6)


def build_firmware(sources: list[Path], include_dirs: list[Path], target: str, out_elf: Path,
                   defines: dict[str, str] | None = None, opt: str = "-O2") -> Path:
    """Compile sources + the board harness with arm-none-eabi-gcc and link for the board."""
    board = board_for(target)
    cc = need("arm-none-eabi-gcc")
    flags = [*board.cflags, *WARNINGS, opt, "-ffunction-sections", "-fdata-sections",
             "-fno-tree-loop-distribute-patterns", "-fno-common"]
    flags += [f"-D{k}={v}" for k, v in (defines or {}).items()]
    flags += [f"-I{HARNESS}"] + [f"-I{d}" for d in include_dirs]
    srcs = [str(s) for s in sources] + [str(HARNESS / "startup.c"), str(HARNESS / "board.c")]
    link = ["-nostartfiles", "--specs=nano.specs", f"-T{board.linker_script}", "-Wl,--gc-sections",
            f"-Wl,-Map={out_elf.with_suffix('.map')}"]
    run_compiler([cc, *flags, *srcs, *link, "-lm", "-o", str(out_elf)], f"firmware build for {target}")
    return out_elf


def run_firmware(elf: Path, target: str, input_bytes: bytes, timeout_s: float = 60,
                 icount_shift: int = ICOUNT_SHIFT) -> RunResult:
    board = board_for(target)
    qemu = need("qemu-system-arm")
    with tempfile.TemporaryDirectory(prefix="edgelstm-qemu-") as tmp:
        work = Path(tmp)
        (work / "in.bin").write_bytes(input_bytes)
        cmd = [qemu, "-M", board.machine, "-nographic", "-monitor", "none", "-serial", "null",
               "-semihosting-config", "enable=on,target=native", "-icount", f"shift={icount_shift}",
               "-kernel", str(Path(elf).resolve())]
        try:
            proc = subprocess.run(cmd, cwd=work, capture_output=True, timeout=timeout_s)
        except subprocess.TimeoutExpired as e:
            raise TargetError(f"QEMU {board.machine} did not finish within {timeout_s:.0f} s (raise --timeout, "
                              "or use fewer --vectors)") from e
        out = (work / "out.bin").read_bytes() if (work / "out.bin").exists() else b""
        err = proc.stderr.decode(errors="replace")
        if proc.returncode != 0:
            what = {0x7F: "the firmware faulted (HardFault)", 2: "the firmware could not read its input",
                    4: "the firmware could not open its output"}.get(proc.returncode, "")
            raise TargetError(f"QEMU {board.machine} exited with {proc.returncode}"
                              f"{': ' + what if what else ''} {err.strip()[:200]}".strip())
        return RunResult(out, proc.returncode, err)


def ticks_to_instructions(ticks: int, board: Board, icount_shift: int = ICOUNT_SHIFT) -> float:
    return ticks * (1e9 / board.clock_hz) / float(1 << icount_shift)


def elf_sizes(elf: Path) -> dict[str, int]:
    """Bytes per section kind of a linked ELF: text, rodata, data, bss, stack."""
    r = subprocess.run([need("arm-none-eabi-size"), "-A", str(elf)], capture_output=True, text=True, check=True)
    sizes: dict[str, int] = {}
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].startswith(".") and parts[1].isdigit():
            key = parts[0].lstrip(".").split(".")[0]
            sizes[key] = sizes.get(key, 0) + int(parts[1])
    return sizes


def symbol_sizes(elf: Path, name: str, exact: bool = False) -> int:
    """Summed sizes of the symbols named ``name`` (exact) or starting with it."""
    r = subprocess.run([need("arm-none-eabi-nm"), "-S", "--size-sort", str(elf)], capture_output=True, text=True,
                       check=True)
    total = 0
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) == 4 and (parts[3] == name if exact else parts[3].startswith(name)):
            total += int(parts[1], 16)
    return total
