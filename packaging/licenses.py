"""The licence files every artifact carries ("MIT OR Apache-2.0": both texts), at the
repository root, where crates, npm and PyPI tooling look for them. pyproject.toml's
`license-files` names the same paths.
"""

from __future__ import annotations

import pathlib
from typing import List

ROOT = pathlib.Path(__file__).resolve().parents[1]
NAMES = ["LICENSE-MIT", "LICENSE-APACHE"]


def license_files() -> List[pathlib.Path]:
    found = []
    for name in NAMES:
        candidate = ROOT / name
        if not candidate.is_file():
            raise SystemExit(f"no {name} at the repository root")
        found.append(candidate)
    return found
