"""Where a cold start's time goes: `python -X importtime`, parsed and ranked."""

from __future__ import annotations

import statistics
import subprocess
import sys
from dataclasses import dataclass

from tests.bench.environment import ROOT


@dataclass(frozen=True)
class Imported:
    module: str
    depth: int  # 0: imported by the program itself; n: by a module n levels down
    self_ms: float
    cumulative_ms: float

    def to_json(self) -> dict[str, object]:
        return {
            "module": self.module,
            "depth": self.depth,
            "self_ms": self.self_ms,
            "cumulative_ms": self.cumulative_ms,
        }


def parse_importtime(stderr: str) -> list[Imported]:
    """Lines look like `import time:   894 |   178838 |   package.module` (microseconds; indent = depth)."""
    found = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = line.removeprefix("import time:").split("|")
        depth = (len(name) - len(name.lstrip()) - 1) // 2
        found.append(Imported(name.strip(), depth, round(int(self_us) / 1000, 1), round(int(cumulative_us) / 1000, 1)))
    return found


def import_breakdown(module: str, env: dict[str, str], top: int = 10, runs: int = 3) -> list[Imported]:
    """The `top` imports by cumulative time of `import module` in a fresh process (median of `runs`)."""
    samples: dict[str, list[Imported]] = {}
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", f"import {module}"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        for entry in parse_importtime(done.stderr):
            samples.setdefault(entry.module, []).append(entry)
    merged = [
        Imported(
            name,
            entries[0].depth,
            round(statistics.median(e.self_ms for e in entries), 1),
            round(statistics.median(e.cumulative_ms for e in entries), 1),
        )
        for name, entries in samples.items()
    ]
    return sorted(merged, key=lambda e: e.cumulative_ms, reverse=True)[:top]


def top_level(stderr: str, top: int = 8) -> list[Imported]:
    """The imports a whole cold start made at depth 0 (the handler, then what it loads lazily on first use)."""
    entries = [e for e in parse_importtime(stderr) if e.depth == 0]
    return sorted(entries, key=lambda e: e.cumulative_ms, reverse=True)[:top]
