"""Compile an export: gcc for the host check, arm-none-eabi-gcc for a Cortex-M core, sizes."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ..errors import ToolchainError

WARNINGS = ["-std=c99", "-Wall", "-Wextra", "-Werror"]
REPO = Path(__file__).resolve().parents[2]
PACKAGE = Path(__file__).resolve().parents[1]


def data_dir(name: str) -> Path:
    """A data folder of the repository root (firmware_export, profiles), or, in an installed wheel, its
    copy inside the package (setup.py puts it there)."""
    in_repo = REPO / name
    return in_repo if in_repo.is_dir() and (REPO / "pyproject.toml").is_file() else PACKAGE / name


RUNTIME = data_dir("firmware_export") / "runtime"
BOARDS = data_dir("firmware_export") / "boards"


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise ToolchainError(f"{tool} not found on PATH; run `make setup` (installs gcc-arm-none-eabi and "
                             "qemu-system-arm from apt)")
    return path


def compiler_for(target_cflags: list[str], host: bool) -> list[str]:
    return [need("gcc" if host else "arm-none-eabi-gcc")] + list(target_cflags)


def run_compiler(cmd: list[str], what: str) -> None:
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        first = "\n".join((r.stderr or r.stdout).strip().splitlines()[:8])
        raise ToolchainError(f"{what} failed:\n{first}")


def with_opt(cflags: list[str]) -> list[str]:
    """The target's flags, with -O2 unless they choose an optimization level."""
    return list(cflags) + ([] if any(f.startswith("-O") for f in cflags) else ["-O2"])


def compile_objects(sources: list[Path], include_dirs: list[Path], cflags: list[str], out_dir: Path,
                    host: bool) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    objs = []
    cc = compiler_for(cflags, host)
    incs = [f"-I{d}" for d in include_dirs]
    for src in sources:
        obj = out_dir / (src.stem + ".o")
        run_compiler([cc[0], *with_opt(cc[1:]), *WARNINGS, "-ffunction-sections", "-fdata-sections", *incs, "-c",
                      str(src), "-o", str(obj)], f"compiling {src.name}")
        objs.append(obj)
    return objs


def section_sizes(obj: Path, host: bool) -> dict[str, int]:
    """flash (text + rodata) and ram (data + bss) bytes of an object file."""
    tool = need("size" if host else "arm-none-eabi-size")
    r = subprocess.run([tool, "-A", str(obj)], capture_output=True, text=True, check=True)
    sizes = {"text": 0, "rodata": 0, "data": 0, "bss": 0}
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) < 2 or not parts[1].isdigit():
            continue
        name, n = parts[0], int(parts[1])
        for key in sizes:
            if name == f".{key}" or name.startswith(f".{key}."):
                sizes[key] += n
    return sizes
