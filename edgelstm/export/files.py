"""The files of an export folder besides the model code: the .tflite as a C array, build
fragments, and the runtime sources the model calls."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterable

from . import kernels as kernel_table
from .toolchain import RUNTIME



def tflite_array(prefix: str, data: bytes, banner: str) -> tuple[str, str]:
    """<prefix>_model_data.h/.c: the flatbuffer, 16-byte aligned (TFLite Micro reads it in place)."""
    P = prefix.upper()
    header = (f"{banner}#ifndef {P}_MODEL_DATA_H\n#define {P}_MODEL_DATA_H\n\n"
              f"/* The .tflite flatbuffer for TFLite Micro: tflite::GetModel({prefix}_model_data). */\n"
              f"#define {P}_MODEL_DATA_LEN {len(data)}\n"
              f"extern const unsigned char {prefix}_model_data[{P}_MODEL_DATA_LEN];\n\n#endif\n")
    rows = [", ".join(f"0x{b:02x}" for b in data[i:i + 16]) for i in range(0, len(data), 16)]
    source = (f"{banner}#include \"{prefix}_model_data.h\"\n\n"
              f"const unsigned char {prefix}_model_data[{P}_MODEL_DATA_LEN] __attribute__((aligned(16))) = {{\n"
              + "\n".join(f"    {r}," for r in rows) + "\n};\n")
    return header, source


def runtime_sources(kernels: Iterable[str]) -> list[Path]:
    """Runtime .c files of these kernels and what they need (export/kernels.py KERNELS)."""
    return [RUNTIME / "src" / f for f in kernel_table.sources(set(kernels))]


def copy_runtime(dest: Path, sources: list[Path]) -> list[str]:
    (dest / "runtime" / "src").mkdir(parents=True, exist_ok=True)
    shutil.copytree(RUNTIME / "include", dest / "runtime" / "include", dirs_exist_ok=True)
    for s in sources:
        shutil.copy2(s, dest / "runtime" / "src" / s.name)
    return [f"runtime/src/{s.name}" for s in sources]


def build_fragments(prefix: str, sources: list[str], banner: str) -> tuple[str, str]:
    mk_banner = banner.replace("/*", "#").replace(" */", "").replace("\n *", "\n#")
    mk = (f"{mk_banner}# Include from your Makefile:  include path/to/{prefix}/{prefix}.mk\n"
          f"{prefix.upper()}_DIR := $(dir $(lastword $(MAKEFILE_LIST)))\n"
          f"{prefix.upper()}_SRCS := " + " ".join(f"$({prefix.upper()}_DIR){s}" for s in sources) + "\n"
          f"{prefix.upper()}_INCLUDES := -I$({prefix.upper()}_DIR) -I$({prefix.upper()}_DIR)runtime/include\n"
          f"# C99; add $({prefix.upper()}_SRCS) to your sources and $({prefix.upper()}_INCLUDES) to CFLAGS.\n")
    cmake = (f"{mk_banner}# add_subdirectory(path/to/{prefix}) then target_link_libraries(app PRIVATE {prefix})\n"
             f"add_library({prefix} STATIC\n" + "".join(f"    ${{CMAKE_CURRENT_LIST_DIR}}/{s}\n" for s in sources)
             + ")\n"
             f"target_include_directories({prefix} PUBLIC ${{CMAKE_CURRENT_LIST_DIR}} "
             f"${{CMAKE_CURRENT_LIST_DIR}}/runtime/include)\n"
             f"set_target_properties({prefix} PROPERTIES C_STANDARD 99 C_STANDARD_REQUIRED ON)\n"
             f"target_link_libraries({prefix} PUBLIC m)\n")
    return mk, cmake
