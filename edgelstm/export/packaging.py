"""Build-system files of an export folder: a Makefile fragment, a CMake fragment, a Zephyr module
(zephyr/), and an Arduino / PlatformIO library (arduino/<name>/).

Several exports in one program: each export ships runtime/ (the kernels it calls); exports made by one
edgelstm version ship identical runtime files (same EL_RUNTIME_ABI_VERSION, checked by every model at
compile time), so the runtime is compiled once: the Make and CMake fragments collect the runtime sources
of every included export by file name (the first copy of each file wins), and the Arduino / PlatformIO
libraries are linked as archives (dot_a_linkage), where a runtime object another library already
provided is not pulled in again.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from .. import __version__


def _hash_banner(banner: str) -> str:
    return banner.replace("/*", "#").replace(" */", "").replace("\n *", "\n#")


def makefile_fragment(prefix: str, model_srcs: list[str], runtime_srcs: list[str], banner: str) -> str:
    P = prefix.upper()
    rt = " ".join(f"$({P}_DIR){s}" for s in runtime_srcs)
    return (f"{_hash_banner(banner)}"
            f"# Include from your Makefile:  include path/to/{prefix}/{prefix}.mk\n"
            f"#   one model:      add $({P}_SRCS) to your sources and $({P}_INCLUDES) to CFLAGS (C99)\n"
            f"#   several models: include every export's .mk, then add each $(<NAME>_MODEL_SRCS), and\n"
            f"#                   $(EL_RUNTIME_SRCS) once: the runtime files of all of them, each file once\n"
            f"{P}_DIR := $(dir $(lastword $(MAKEFILE_LIST)))\n"
            f"{P}_MODEL_SRCS := " + " ".join(f"$({P}_DIR){s}" for s in model_srcs) + "\n"
            f"{P}_RUNTIME_SRCS := {rt}\n"
            f"{P}_SRCS := $({P}_MODEL_SRCS) $({P}_RUNTIME_SRCS)\n"
            f"{P}_INCLUDES := -I$({P}_DIR) -I$({P}_DIR)runtime/include\n"
            f"EL_RUNTIME_SRCS := $(EL_RUNTIME_SRCS) $(foreach s,$({P}_RUNTIME_SRCS),$(if $(filter $(notdir $(s)),"
            f"$(notdir $(EL_RUNTIME_SRCS))),,$(s)))\n")


def cmake_fragment(prefix: str, model_srcs: list[str], runtime_srcs: list[str], banner: str) -> str:
    """add_subdirectory() of the export: target <prefix> (the model) linking edgelstm_runtime, a target
    shared by every export of the build (created by the first; each runtime file added once)."""
    srcs = "".join(f"    ${{CMAKE_CURRENT_LIST_DIR}}/{s}\n" for s in model_srcs)
    rt = " ".join(runtime_srcs)
    return (f"{_hash_banner(banner)}"
            f"# add_subdirectory(path/to/{prefix}) then target_link_libraries(app PRIVATE {prefix}).\n"
            "# Several exports: add_subdirectory() each; they share one edgelstm_runtime library (each runtime\n"
            "# file compiled once). Set EDGELSTM_NO_LIBM to skip linking libm (e.g. when the C library brings it).\n"
            "cmake_minimum_required(VERSION 3.13)\n"
            "if(NOT TARGET edgelstm_runtime)\n"
            "    add_library(edgelstm_runtime STATIC)\n"
            "    target_include_directories(edgelstm_runtime PUBLIC ${CMAKE_CURRENT_LIST_DIR}/runtime/include)\n"
            "    set_target_properties(edgelstm_runtime PROPERTIES C_STANDARD 99 C_STANDARD_REQUIRED ON)\n"
            "    if(NOT EDGELSTM_NO_LIBM)\n"
            "        target_link_libraries(edgelstm_runtime PUBLIC m)\n"
            "    endif()\n"
            "endif()\n"
            "get_property(_el_have GLOBAL PROPERTY EDGELSTM_RUNTIME_FILES)\n"
            f"foreach(_el_src {rt})\n"
            "    get_filename_component(_el_name ${_el_src} NAME)\n"
            "    list(FIND _el_have ${_el_name} _el_at)\n"
            "    if(_el_at EQUAL -1)\n"
            "        target_sources(edgelstm_runtime PRIVATE ${CMAKE_CURRENT_LIST_DIR}/${_el_src})\n"
            "        set_property(GLOBAL APPEND PROPERTY EDGELSTM_RUNTIME_FILES ${_el_name})\n"
            "        list(APPEND _el_have ${_el_name})\n"
            "    endif()\n"
            "endforeach()\n"
            f"add_library({prefix} STATIC\n{srcs})\n"
            f"target_include_directories({prefix} PUBLIC ${{CMAKE_CURRENT_LIST_DIR}})\n"
            f"set_target_properties({prefix} PROPERTIES C_STANDARD 99 C_STANDARD_REQUIRED ON)\n"
            f"target_link_libraries({prefix} PUBLIC edgelstm_runtime)\n")


def zephyr_module(prefix: str, banner: str) -> dict[str, str]:
    """zephyr/ of the export: add the folder to ZEPHYR_EXTRA_MODULES (or west.yml); CONFIG_EDGELSTM_<NAME>=y
    (the default) builds the model and the shared runtime with Zephyr's flags and links them."""
    P = prefix.upper()
    hb = _hash_banner(banner)
    return {
        "zephyr/module.yml": f"{hb}name: edgelstm_{prefix}\nbuild:\n  cmake: zephyr\n  kconfig: zephyr/Kconfig\n",
        "zephyr/Kconfig": (f"{hb}config EDGELSTM_{P}\n\tbool \"edgelstm model {prefix}\"\n\tdefault y\n\thelp\n"
                           f"\t  The generated model {prefix} ({prefix}_model.h) and the edgelstm runtime.\n"),
        "zephyr/CMakeLists.txt": (
            f"{hb}if(CONFIG_EDGELSTM_{P})\n"
            "    set(EDGELSTM_NO_LIBM ON)  # Zephyr's C library links libm itself\n"
            f"    add_subdirectory(${{CMAKE_CURRENT_LIST_DIR}}/.. ${{CMAKE_CURRENT_BINARY_DIR}}/{prefix})\n"
            f"    target_link_libraries({prefix} PRIVATE zephyr_interface)\n"
            "    target_link_libraries(edgelstm_runtime PRIVATE zephyr_interface)\n"
            f"    zephyr_link_libraries({prefix})\n"
            "endif()\n"),
    }


def arduino_sketch(prefix: str, ctype: str) -> str:
    P = prefix.upper()
    fill = f"(int8_t){P}_INPUT_ZERO_POINT" if ctype == "int8_t" else "0.0f"
    show = "(int)y[i]" if ctype == "int8_t" else "y[i]"
    return (f"// edgelstm example for {prefix}: one window of real zeros in, the outputs over Serial.\n"
            f"// Replace the input with your sensor data (quantized with {P}_INPUT_SCALE / {P}_INPUT_ZERO_POINT).\n"
            f"#include <{prefix}_model.h>\n\n"
            f"static {prefix}_state_t state;                              // carried between calls\n"
            f"static uint64_t scratch[({P}_SCRATCH_BYTES + 7) / 8];      // only during a call: share it between models\n"
            f"static {ctype} x[{P}_SEQ_LEN * {P}_INPUT_SIZE];\n"
            f"static {ctype} y[{P}_OUTPUT_STEPS * {P}_OUTPUT_SIZE];\n\n"
            "void setup() {\n"
            "  Serial.begin(115200);\n"
            f"  for (unsigned i = 0; i < {P}_SEQ_LEN * {P}_INPUT_SIZE; ++i) x[i] = {fill};\n"
            "  unsigned long t0 = micros();\n"
            f"  {prefix}_run(&state, scratch, x, y);\n"
            "  unsigned long t1 = micros();\n"
            f"  Serial.print(\"{prefix}_run us: \");\n"
            "  Serial.println(t1 - t0);\n"
            f"  for (unsigned i = 0; i < {P}_OUTPUT_STEPS * {P}_OUTPUT_SIZE; ++i) Serial.println({show});\n"
            "}\n\n"
            "void loop() {}\n")


def write_arduino_library(export_dir: Path, prefix: str, model_files: list[str], runtime_srcs: list[str],
                          ctype: str, description: str) -> list[str]:
    """arduino/<prefix>/: an Arduino library (1.5 format, flat src/) that PlatformIO reads too
    (library.json). Returns the files written, relative to export_dir."""
    lib = export_dir / "arduino" / prefix
    src = lib / "src"
    src.mkdir(parents=True)
    for f in model_files:
        shutil.copyfile(export_dir / f, src / Path(f).name)
    for h in sorted((export_dir / "runtime" / "include").glob("*.h")):
        shutil.copyfile(h, src / h.name)
    for s in runtime_srcs:
        shutil.copyfile(export_dir / s, src / Path(s).name)
    name = f"edgelstm_{prefix}"
    (lib / "library.properties").write_text(
        f"name={name}\nversion={__version__}\nauthor=edgelstm (generated)\nmaintainer=edgelstm (generated)\n"
        f"sentence=The {prefix} model, generated by edgelstm: C99, no heap, bit-exact with TensorFlow Lite Micro.\n"
        f"paragraph={description}. Call {prefix}_run or {prefix}_step from {prefix}_model.h.\n"
        "category=Data Processing\nurl=\narchitectures=*\n"
        f"includes={prefix}_model.h\n"
        "dot_a_linkage=true\n")
    (lib / "library.json").write_text(json.dumps({
        "name": name, "version": __version__,
        "description": f"{description}, generated by edgelstm (C99, no heap, bit-exact with TFLite Micro)",
        "keywords": ["edgelstm", "lstm", "gru", "tinyml"], "frameworks": "*", "platforms": "*",
        "build": {"srcDir": "src", "includeDir": "src", "libArchive": True},
        "examples": [f"examples/{prefix}/{prefix}.ino"]}, indent=2) + "\n")
    ex = lib / "examples" / prefix
    ex.mkdir(parents=True)
    (ex / f"{prefix}.ino").write_text(arduino_sketch(prefix, ctype))
    return sorted(p.relative_to(export_dir).as_posix() for p in lib.rglob("*") if p.is_file())
