"""Progress bars on stderr (tqdm), off for --json and when stderr is not a terminal in CI logs."""
from __future__ import annotations

import sys
from typing import Any


class Progress:
    def __init__(self, total: int, desc: str, enabled: bool = True) -> None:
        self.total, self.desc, self.enabled = total, desc, enabled
        self.bar: Any = None

    def __enter__(self) -> "Progress":
        if self.enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=self.total, desc=self.desc, file=sys.stderr, leave=False,
                            disable=not sys.stderr.isatty())
        return self

    def step(self, message: str = "") -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(message[:60])
            self.bar.update(1)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()
