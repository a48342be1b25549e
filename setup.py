"""Package data from outside the package folder: the C runtime, the board files and the target profiles
live at the repository root (firmware_export/, profiles/: `make` and the tests use them there); a built
wheel carries them inside the package (edgelstm/firmware_export/, edgelstm/profiles/), where
edgelstm/export/toolchain.py and edgelstm/profile/targets.py find them when the repository is not there.
Everything else is in pyproject.toml."""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
DATA = {"firmware_export/runtime": ("*.c", "*.h"), "firmware_export/boards": ("*.c", "*.h", "*.ld"),
        "profiles": ("*.toml",)}


class BuildPyWithData(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads them from the repository
        for folder, patterns in DATA.items():
            src, dst = ROOT / folder, Path(self.build_lib) / "edgelstm" / folder
            for pattern in patterns:
                for f in sorted(src.rglob(pattern)):
                    out = dst / f.relative_to(src)
                    out.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(f, out)


setup(cmdclass={"build_py": BuildPyWithData})
