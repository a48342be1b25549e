"""Issue 13: an export drops into real firmware. Two exports of different models (the demo LSTM as kws,
the demo GRU as act) link into one program from C and from C++, on the host and on QEMU (Cortex-M4), the
runtime compiled once (Make and CMake fragments), one scratch shared by both models; every output equals
the export's own expected outputs (TFLite Micro). The Arduino library compiles with arm-none-eabi-g++ as
an Arduino core would; two exports of one model into different folders are byte-identical; the runtime's
global symbols all carry el_; a runtime of another ABI is refused at compile time."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_folder

from edgelstm.export.check import expected_run, expected_step, make_vectors
from edgelstm.export.toolchain import BOARDS

TOOLS = ("gcc", "g++", "make", "arm-none-eabi-gcc", "arm-none-eabi-g++", "qemu-system-arm")
pytestmark = pytest.mark.skipif(any(shutil.which(t) is None for t in TOOLS), reason="toolchain missing")

CXXFLAGS = ["-std=c++11", "-fno-exceptions", "-fno-rtti", "-Wall", "-Wextra", "-Werror"]
CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror"]
N = 3  # vectors per model


def _cli(cwd: Path, *args: str) -> None:
    exe = Path(sys.executable).with_name("edgelstm")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "edgelstm"]
    r = subprocess.run([*cmd, *args], cwd=cwd, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> dict[str, Path]:
    """kws (demo LSTM), act (demo GRU), and kws again into another folder from another working directory.
    EDGELSTM_TEST_EXPORTS=<folder> keeps them there and reuses them (while working on these tests)."""
    import os

    def build(root: Path) -> None:
        (root / "a").mkdir(parents=True, exist_ok=True)
        (root / "b" / "deeper").mkdir(parents=True, exist_ok=True)
        jobs = [(root / "a", ("export", "--demo", "lstm", "--name", "kws", "-o", "kws")),
                (root, ("export", "--demo", "lstm", "--name", "kws", "--out", "b/deeper/kws")),
                (root, ("export", "--demo", "gru", "--name", "act", "-o", str(root / "act")))]
        with ThreadPoolExecutor(max_workers=3) as pool:
            list(pool.map(lambda j: _cli(j[0], *j[1]), jobs))

    keep = os.environ.get("EDGELSTM_TEST_EXPORTS")
    if keep:
        root = Path(keep)
        if not (root / "act" / "export.json").is_file():
            build(root)
    else:
        root = shared_folder(tmp_path_factory, "integration_exports", build)  # once per run
    return {"kws": root / "a" / "kws", "kws_again": root / "b" / "deeper" / "kws", "act": root / "act"}


def _info(d: Path) -> dict:
    return json.loads((d / "export.json").read_text())


def _run(cmd: list, **kw) -> subprocess.CompletedProcess:
    r = subprocess.run([str(c) for c in cmd], capture_output=True, **kw)
    assert r.returncode == 0, (cmd, (r.stderr if isinstance(r.stderr, str) else r.stderr.decode())[-3000:])
    return r


# ---- one program, two models ---------------------------------------------------------------------
TWO_MODELS = """/* Two edgelstm exports in one program (valid C99 and C++), one scratch shared by both. */
#include <stdint.h>

#include "board.h"
#include "kws_model.h"
#include "act_model.h"

#if KWS_SEQ_LEN != ACT_SEQ_LEN
#error "the test interleaves the two models step by step"
#endif
#define MAX_BYTES(a, b) ((a) > (b) ? (a) : (b))

static kws_state_t kws;
static act_state_t act;
static uint64_t scratch[(MAX_BYTES(KWS_SCRATCH_BYTES, ACT_SCRATCH_BYTES) + 7) / 8];
static int8_t xk[KWS_SEQ_LEN * KWS_INPUT_SIZE], xa[ACT_SEQ_LEN * ACT_INPUT_SIZE];
static int8_t yk[KWS_SEQ_LEN * KWS_OUTPUT_SIZE], ya[ACT_SEQ_LEN * ACT_OUTPUT_SIZE];

int main(void)
{
    int32_t n = 0;
    if (board_read(&n, sizeof(n)) != 0) {
        board_exit(2);
    }
    for (int32_t k = 0; k < n; ++k) {
        if (board_read(xk, sizeof(xk)) != 0 || board_read(xa, sizeof(xa)) != 0) {
            board_exit(2);
        }
        kws_run(&kws, scratch, xk, yk);
        board_write(yk, KWS_OUTPUT_STEPS * KWS_OUTPUT_SIZE);
        act_run(&act, scratch, xa, ya);
        board_write(ya, ACT_OUTPUT_STEPS * ACT_OUTPUT_SIZE);
        /* the two models interleaved timestep by timestep: the state structs carry everything */
        kws_reset(&kws);
        act_reset(&act);
        for (int32_t t = 0; t < KWS_SEQ_LEN; ++t) {
            kws_step(&kws, scratch, xk + t * KWS_INPUT_SIZE, yk + t * KWS_OUTPUT_SIZE);
            act_step(&act, scratch, xa + t * ACT_INPUT_SIZE, ya + t * ACT_OUTPUT_SIZE);
        }
        board_write(yk, sizeof(yk));
        board_write(ya, sizeof(ya));
    }
    return 0;
}
"""


@pytest.fixture(scope="module")
def vectors(exports) -> dict:
    """Inputs per model and the outputs each export's own check expects (TFLite Micro)."""
    out = {}
    for name in ("kws", "act"):
        d, info = exports[name], _info(exports[name])
        xs = make_vectors(info, None, n_random=N, seed=1)[:N]
        out[name] = (xs, expected_run(d, info, xs), expected_step(d, info, xs))
    return out


def _input_bytes(vectors: dict) -> bytes:
    (xk, _, _), (xa, _, _) = vectors["kws"], vectors["act"]
    return np.array([N], "<i4").tobytes() + b"".join(xk[k].astype(np.int8).tobytes() + xa[k].astype(np.int8).tobytes()
                                                    for k in range(N))


def _check_outputs(out: bytes, vectors: dict) -> None:
    (_, rk, sk), (_, ra, sa) = vectors["kws"], vectors["act"]
    got = np.frombuffer(out, np.int8)
    per = rk[0].size + ra[0].size + sk[0].size + sa[0].size
    assert got.size == N * per
    for k in range(N):
        chunk, at = got[k * per:(k + 1) * per], 0
        for want in (rk[k], ra[k], sk[k], sa[k]):
            np.testing.assert_array_equal(chunk[at:at + want.size], want.reshape(-1).astype(np.int8))
            at += want.size


def test_two_models_one_host_program_from_cpp_with_the_make_fragments(exports, vectors, tmp_path):
    """g++ main + gcc C sources, through both exports' .mk: EL_RUNTIME_SRCS holds each runtime file once."""
    (tmp_path / "main.cpp").write_text(TWO_MODELS)
    board = BOARDS / "host"
    (tmp_path / "Makefile").write_text(
        f"include {exports['kws']}/kws.mk\ninclude {exports['act']}/act.mk\n"
        f"CFLAGS := {' '.join(CFLAGS)} -O2 $(KWS_INCLUDES) $(ACT_INCLUDES) -I{board}\n"
        f"CXXFLAGS := {' '.join(CXXFLAGS)} -O2 $(KWS_INCLUDES) $(ACT_INCLUDES) -I{board}\n"
        "SRCS := $(KWS_MODEL_SRCS) $(ACT_MODEL_SRCS) $(EL_RUNTIME_SRCS) " + f"{board}/board_host.c\n"
        "runtime:\n\t@echo $(notdir $(EL_RUNTIME_SRCS))\n"
        "app: main.cpp $(SRCS)\n\tmkdir -p obj\n"
        "\t$(foreach s,$(SRCS),gcc $(CFLAGS) -c $(s) -o obj/$(notdir $(basename $(s))).o &&) true\n"
        "\tg++ $(CXXFLAGS) main.cpp obj/*.o -lm -o app\n")
    names = _run(["make", "-s", "-C", tmp_path, "runtime"], text=True).stdout.split()
    assert sorted(names) == sorted(set(names)) == ["fc_s8.c", "gru_step_s8.c", "lstm_step_s8.c", "sigmoid_s16.c",
                                                   "softmax_s8.c"]
    _run(["make", "-s", "-C", tmp_path, "app"])
    _check_outputs(_run([tmp_path / "app"], input=_input_bytes(vectors)).stdout, vectors)


def _cmake_cross(exports: dict, work: Path, cflags: list[str]) -> dict[str, Path]:
    """The exports' CMake fragments, cross-compiled with arm-none-eabi-gcc: static libraries."""
    src = work / "cmake"
    src.mkdir()
    (src / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.13)\nproject(two C)\n"
        f"add_subdirectory({exports['kws']} kws)\nadd_subdirectory({exports['act']} act)\n")
    flags = " ".join([*cflags, *CFLAGS, "-O2", "-ffunction-sections", "-fdata-sections"])
    _run(["cmake", "-S", src, "-B", work / "build", "-DCMAKE_SYSTEM_NAME=Generic",
          f"-DCMAKE_C_COMPILER={shutil.which('arm-none-eabi-gcc')}", "-DCMAKE_TRY_COMPILE_TARGET_TYPE=STATIC_LIBRARY",
          f"-DCMAKE_C_FLAGS={flags}"])
    _run(["cmake", "--build", work / "build", "-j", "2"])
    libs = {p.stem.removeprefix("lib"): p for p in (work / "build").rglob("*.a")}
    assert set(libs) == {"kws", "act", "edgelstm_runtime"}, libs
    return libs


@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake not installed")
@pytest.mark.parametrize("lang", ["c", "c++"])
def test_two_models_one_firmware_on_qemu(exports, vectors, tmp_path, lang):
    """One Cortex-M4 firmware, both models, main in C (gcc) or C++ (g++); the libraries from the exports'
    CMake fragments (the plain-CMake form of the Zephyr module), the runtime library compiled once."""
    from edgelstm.run import qemu

    board = qemu.board_for("cortex-m4")
    libs = _cmake_cross(exports, tmp_path, list(board.cflags))
    members = _run(["arm-none-eabi-ar", "t", libs["edgelstm_runtime"]], text=True).stdout.split()
    assert sorted(members) == ["fc_s8.c.obj", "gru_step_s8.c.obj", "lstm_step_s8.c.obj", "sigmoid_s16.c.obj",
                               "softmax_s8.c.obj"], members
    harness = qemu.HARNESS
    main = tmp_path / ("main.cpp" if lang == "c++" else "main.c")
    main.write_text(TWO_MODELS)
    cc = "arm-none-eabi-g++" if lang == "c++" else "arm-none-eabi-gcc"
    incs = [f"-I{exports['kws']}", f"-I{exports['act']}", f"-I{exports['kws'] / 'runtime' / 'include'}",
            f"-I{harness}"]
    objs = []
    for src, compiler, flags in ((main, cc, CXXFLAGS if lang == "c++" else CFLAGS),
                                 (harness / "startup.c", "arm-none-eabi-gcc", CFLAGS),
                                 (harness / "board.c", "arm-none-eabi-gcc", CFLAGS)):
        obj = tmp_path / (src.stem + ".o")
        _run([compiler, *board.cflags, *flags, "-O2", "-ffunction-sections", "-fdata-sections", *incs, "-c", src,
              "-o", obj])
        objs.append(obj)
    elf = tmp_path / "two.elf"
    # linked by gcc: C++ without exceptions or RTTI needs no libstdc++ (not installed with Debian's toolchain)
    _run(["arm-none-eabi-gcc", *board.cflags, *objs, libs["kws"], libs["act"], libs["edgelstm_runtime"], "-nostartfiles",
          "--specs=nano.specs", f"-T{board.linker_script}", "-Wl,--gc-sections", "-lm", "-o", elf])
    res = qemu.run_firmware(elf, "cortex-m4", _input_bytes(vectors), timeout_s=120)
    _check_outputs(res.output, vectors)


# ---- Arduino / PlatformIO --------------------------------------------------------------------------
ARDUINO_H = """/* Stand-in for an Arduino core's Arduino.h: what the example sketches use. */
#pragma once
#include <stdint.h>
struct SerialStub {
    void begin(unsigned long) {}
    template <class T> void print(T) {}
    template <class T> void println(T) {}
};
extern SerialStub Serial;
unsigned long micros(void);
"""
CORE_CPP = """#include <Arduino.h>
SerialStub Serial;
unsigned long micros(void) { return 0; }
void setup(void);
void loop(void);
int main(void) { setup(); loop(); return 0; }
"""
M4 = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]


def _arduino_lib(lib: Path, work: Path) -> Path:
    """The library as the Arduino build compiles it: every src/ file, C with gcc (gnu11), C++ with g++,
    -Os, sections; dot_a_linkage=true: an archive."""
    objs = []
    for src in sorted((lib / "src").iterdir()):
        if src.suffix == ".c":
            obj = work / f"{lib.name}_{src.stem}.o"
            _run(["arm-none-eabi-gcc", *M4, "-std=gnu11", "-Os", "-Wall", "-Wextra", "-Werror", "-ffunction-sections",
                  "-fdata-sections", f"-I{lib / 'src'}", "-c", src, "-o", obj])
            objs.append(obj)
    archive = work / f"lib{lib.name}.a"
    _run(["arm-none-eabi-ar", "rcs", archive, *objs])
    return archive


def _sketch(ino: Path, work: Path, incs: list[Path]) -> Path:
    cpp = work / (ino.stem + ".ino.cpp")
    cpp.write_text("#include <Arduino.h>\n#line 1\n" + ino.read_text())
    obj = work / (ino.stem + ".ino.o")
    _run(["arm-none-eabi-g++", *M4, "-std=gnu++11", "-Os", "-fno-exceptions", "-fno-rtti", "-Wall", "-Wextra",
          "-Werror", "-ffunction-sections", "-fdata-sections", f"-I{work}", *(f"-I{i}" for i in incs), "-c", cpp,
          "-o", obj])
    return obj


def test_arduino_library_examples_compile_and_two_libraries_link(exports, tmp_path):
    libs = {n: exports[n] / "arduino" / n for n in ("kws", "act")}
    for n, lib in libs.items():
        props = dict(line.split("=", 1) for line in (lib / "library.properties").read_text().splitlines() if line)
        assert props["name"] == f"edgelstm_{n}" and props["includes"] == f"{n}_model.h"
        assert props["dot_a_linkage"] == "true" and props["architectures"] == "*"
        pio = json.loads((lib / "library.json").read_text())
        assert pio["name"] == f"edgelstm_{n}" and pio["build"]["srcDir"] == "src"
        assert (lib / "examples" / n / f"{n}.ino").is_file() and (lib / "src" / "edgelstm.h").is_file()
    (tmp_path / "Arduino.h").write_text(ARDUINO_H)
    (tmp_path / "core.cpp").write_text(CORE_CPP)
    core = tmp_path / "core.o"
    _run(["arm-none-eabi-g++", *M4, "-std=gnu++11", "-Os", "-fno-exceptions", "-fno-rtti", f"-I{tmp_path}", "-c",
          tmp_path / "core.cpp", "-o", core])
    archives = [_arduino_lib(lib, tmp_path) for lib in libs.values()]
    # linked by gcc: C++ without exceptions or RTTI needs no libstdc++ (not installed with Debian's toolchain)
    link = ["--specs=nosys.specs", "--specs=nano.specs", "-Wl,--gc-sections", "-lm"]
    for n, lib in libs.items():  # each library's example sketch, linked with both libraries
        sketch = _sketch(lib / "examples" / n / f"{n}.ino", tmp_path, [lib / "src"])
        _run(["arm-none-eabi-gcc", *M4, sketch, core, *archives, *link, "-o", tmp_path / f"{n}.elf"])
    # one sketch running both models: the runtime objects both libraries carry (fc_s8, softmax_s8) link once
    both = tmp_path / "both"
    both.mkdir()
    (both / "both.ino").write_text(TWO_MODELS.split("int main(void)")[0].replace('#include "board.h"\n', "")
                                   + "void setup() {\n    kws_run(&kws, scratch, xk, yk);\n"
                                     "    act_run(&act, scratch, xa, ya);\n    Serial.println((int)yk[0] + ya[0]);\n}\n"
                                     "void loop() {}\n")
    sketch = _sketch(both / "both.ino", tmp_path, [libs["kws"] / "src", libs["act"] / "src"])
    _run(["arm-none-eabi-gcc", *M4, sketch, core, *archives, *link, "-o", tmp_path / "both.elf"])


def test_cpp_program_with_one_export_cross_compiles(exports, tmp_path):
    """arm-none-eabi-g++: a C++ translation unit includes the model header (extern "C", runtime headers
    C++-safe) and links against the C objects."""
    d = exports["kws"]
    (tmp_path / "main.cpp").write_text('#include "kws_model.h"\n#include "kws_model_data.h"\n'
                                       "static kws_state_t s;\nstatic uint64_t scratch[(KWS_SCRATCH_BYTES + 7) / 8];\n"
                                       "int8_t x[KWS_SEQ_LEN * KWS_INPUT_SIZE], y[KWS_OUTPUT_SIZE];\n"
                                       "int main() { kws_run(&s, scratch, x, y); return y[0] + kws_model_data[0]; }\n")
    incs = [f"-I{d}", f"-I{d / 'runtime' / 'include'}"]
    srcs = [d / "kws_model.c", d / "kws_model_data.c", *(d / s for s in _info(d)["files"]["runtime"])]
    objs = []
    for s in srcs:
        objs.append(tmp_path / (s.stem + ".o"))
        _run(["arm-none-eabi-gcc", *M4, *CFLAGS, "-O2", *incs, "-c", s, "-o", objs[-1]])
    main = tmp_path / "main.o"
    _run(["arm-none-eabi-g++", *M4, *CXXFLAGS, "-O2", *incs, "-c", tmp_path / "main.cpp", "-o", main])
    _run(["arm-none-eabi-gcc", *M4, main, *objs, "--specs=nosys.specs", "--specs=nano.specs", "-lm", "-o",
          tmp_path / "main.elf"])


# ---- the export's files ----------------------------------------------------------------------------
def test_two_exports_of_one_model_into_different_folders_are_byte_identical(exports):
    a, b = exports["kws"], exports["kws_again"]
    files_a = sorted(p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b).as_posix() for p in b.rglob("*") if p.is_file())
    assert files_a == files_b
    differ = [f for f in files_a if (a / f).read_bytes() != (b / f).read_bytes()]
    assert not differ, differ
    header = (a / "kws_model.h").read_text()
    assert "/tmp" not in header and str(a) not in (a / "export.json").read_text()
    info = _info(a)
    assert len(info["model"]["source_sha256"]) == 64 and info["model"]["source_sha256"] in header
    assert "command: edgelstm export --demo lstm --name kws\n" in header  # the output folder is left out


def test_designated_initializers_and_overridable_placement(exports, tmp_path):
    src = (exports["act"] / "act_model.c").read_text()
    assert "static const el_gru_s8_t act_l0_gru EL_MODEL_SECTION = {\n    .input_size = " in src
    assert "static const el_fc_s8_t act_l1_dense EL_MODEL_SECTION = {\n    .rows = 1," in src
    assert "__attribute__" not in src
    d = exports["kws"]
    obj = tmp_path / "kws_model.o"
    _run(["arm-none-eabi-gcc", *M4, *CFLAGS, "-O2", f"-I{d}", f"-I{d / 'runtime' / 'include'}",
          "-DKWS_WEIGHTS_SECTION=__attribute__((section(\".nn_weights\")))", "-c", d / "kws_model.c", "-o", obj])
    sections = _run(["arm-none-eabi-objdump", "-h", obj], text=True).stdout
    assert ".nn_weights" in sections


def test_runtime_symbols_carry_the_prefix_and_the_abi_is_checked(exports, tmp_path):
    d = exports["kws"]
    inc = d / "runtime" / "include"
    for rt in {*_info(d)["files"]["runtime"], *_info(exports["act"])["files"]["runtime"]}:
        src = (exports["act"] if (exports["act"] / rt).exists() else d) / rt
        obj = tmp_path / (src.stem + ".o")
        _run(["gcc", *CFLAGS, "-O2", f"-I{inc}", "-c", src, "-o", obj])
        syms = _run(["nm", "-g", "--defined-only", obj], text=True).stdout.split()[2::3]
        assert syms and all(s.startswith("el_") for s in syms), (src.name, syms)
    # a runtime of another ABI: the model refuses to compile
    other = tmp_path / "other"
    shutil.copytree(inc, other)
    h = other / "edgelstm.h"
    h.write_text(h.read_text().replace("#define EL_RUNTIME_ABI_VERSION ", "#define EL_RUNTIME_ABI_VERSION 9"))
    r = subprocess.run(["gcc", *CFLAGS, f"-I{d}", f"-I{other}", "-c", str(d / "kws_model.c"), "-o",
                        str(tmp_path / "x.o")], capture_output=True, text=True)
    assert r.returncode != 0 and "runtime ABI" in r.stderr


@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake not installed")
def test_zephyr_modules_of_two_exports_configure_and_build_with_a_stand_in_zephyr(exports, tmp_path):
    """Zephyr is not installed here: its module files are checked, and the modules' CMakeLists.txt run in a
    plain CMake project that stands in for Zephyr (zephyr_interface, zephyr_link_libraries, CONFIG_*),
    cross-compiled with arm-none-eabi-gcc: both models and one runtime library, linked into one library set."""
    import yaml

    for n in ("kws", "act"):
        mod = yaml.safe_load((exports[n] / "zephyr" / "module.yml").read_text())
        assert mod == {"name": f"edgelstm_{n}", "build": {"cmake": "zephyr", "kconfig": "zephyr/Kconfig"}}
        assert f"config EDGELSTM_{n.upper()}" in (exports[n] / "zephyr" / "Kconfig").read_text()
    (tmp_path / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.13)\nproject(zephyr_stand_in C)\n"
        "add_library(zephyr_interface INTERFACE)\n"
        "target_compile_options(zephyr_interface INTERFACE -ffunction-sections -fdata-sections)\n"
        "function(zephyr_link_libraries)\n"
        "    set_property(GLOBAL APPEND PROPERTY ZEPHYR_LINKED ${ARGV})\nendfunction()\n"
        "set(CONFIG_EDGELSTM_KWS y)\nset(CONFIG_EDGELSTM_ACT y)\n"
        f"add_subdirectory({exports['kws']}/zephyr kws_module)\nadd_subdirectory({exports['act']}/zephyr act_module)\n"
        "get_property(linked GLOBAL PROPERTY ZEPHYR_LINKED)\nmessage(STATUS \"linked: ${linked}\")\n")
    flags = " ".join([*M4, *CFLAGS, "-O2"])
    r = _run(["cmake", "-S", tmp_path, "-B", tmp_path / "build", "-DCMAKE_SYSTEM_NAME=Generic",
              f"-DCMAKE_C_COMPILER={shutil.which('arm-none-eabi-gcc')}",
              "-DCMAKE_TRY_COMPILE_TARGET_TYPE=STATIC_LIBRARY", f"-DCMAKE_C_FLAGS={flags}"], text=True)
    assert "linked: kws;act" in r.stdout
    _run(["cmake", "--build", tmp_path / "build", "-j", "2"])
    libs = sorted(p.name for p in (tmp_path / "build").rglob("*.a"))
    assert libs == ["libact.a", "libedgelstm_runtime.a", "libkws.a"], libs
