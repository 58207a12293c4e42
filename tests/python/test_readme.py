"""Every code block of README.md runs, so the README cannot drift from the product.

- ``js``: run by Node as a module inside the repository (``omnisession`` resolves to this
  package); a module of Fetch API handlers has them called with a Request. A block that opens
  with the path of a Next.js app file (``// app/…``, ``// lib/…``, ``// middleware.js``,
  ``// next.config.mjs``) is a file of the Next.js app that tests/node/next.test.mjs builds
  with ``next build`` and drives over HTTP, so it is left to that test.
- ``python``: run by this interpreter; a Django settings block drives the session engine, an
  ASGI ``app`` is served by uvicorn and its routes called over HTTP.
- ``rust``: compiled and run as doctests of the core (``core/src/lib.rs`` includes the README).
- ``sh``: every line is a ``make`` target, checked with ``make -n``.

A ``// value`` or ``# value`` comment after a ``console.log``/``print`` is the output that line
must print, in order.
"""

from __future__ import annotations

import pathlib
import re
import shutil
import subprocess
import sys
from typing import List, Tuple

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS: List[Tuple[str, str, int]] = [
    (m.group(1), m.group(2), README.count("\n", 0, m.start()) + 1)
    for m in re.finditer(r"^```(\w*)\n(.*?)^```$", README, re.S | re.M)
]
RUNNERS = ROOT / "tests" / "readme"
# The same rule as NEXT_FILE_BLOCK in tests/node/next.test.mjs.
NEXT_FILE = re.compile(r"// ((?:app|lib)/[\w/.\[\]-]+|middleware\.js|next\.config\.mjs)\n")


def expected_output(code: str, call: str, comment: str) -> List[str]:
    pattern = re.compile(rf"^\s*{call}\(.*\)\s*{comment}\s?(.*)$")
    return [m.group(1) for line in code.splitlines() if (m := pattern.match(line))]


def check_output(out: subprocess.CompletedProcess, expected: List[str], where: str) -> None:
    assert out.returncode == 0, f"{where} failed:\n{out.stdout}\n{out.stderr}"
    printed = [line.rstrip() for line in out.stdout.splitlines()]
    assert printed[: len(expected)] == expected, f"{where} printed {printed}, README says {expected}"


def blocks(lang: str) -> List[Tuple[str, int]]:
    return [(code, line) for kind, code, line in BLOCKS if kind == lang and not NEXT_FILE.match(code)]


def test_every_block_has_a_runner() -> None:
    kinds = {kind for kind, _, _ in BLOCKS}
    assert kinds <= {"js", "python", "rust", "sh"}, kinds
    assert len(blocks("js")) >= 3 and len(blocks("python")) >= 3, "quickstarts are missing"


@pytest.mark.parametrize("code,line", blocks("js"), ids=lambda v: f"line{v}" if isinstance(v, int) else "")
def test_js_block(code: str, line: int) -> None:
    if shutil.which("node") is None:
        pytest.fail("node is needed for the README's JavaScript blocks (install Node.js 20+)")
    # Inside the repository (target/ is ignored by git) so that `omnisession` resolves here.
    work = ROOT / "target" / "readme" / f"js-{line}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    (work / "block.mjs").write_text(code, encoding="utf-8")
    out = subprocess.run(
        ["node", str(RUNNERS / "run_js_block.mjs"), str(work / "block.mjs")],
        cwd=work, capture_output=True, text=True, timeout=120,
    )
    check_output(out, expected_output(code, "console.log", "//"), f"README.md:{line}")


@pytest.mark.parametrize("code,line", blocks("python"), ids=lambda v: f"line{v}" if isinstance(v, int) else "")
def test_python_block(code: str, line: int, tmp_path: pathlib.Path) -> None:
    (tmp_path / "block.py").write_text(code, encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-W", "error", str(RUNNERS / "run_python_block.py"), str(tmp_path / "block.py")],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    check_output(out, expected_output(code, "print", "#"), f"README.md:{line}")


def test_rust_blocks_are_doctests() -> None:
    lib = (ROOT / "core" / "src" / "lib.rs").read_text(encoding="utf-8")
    assert '#[doc = include_str!("../../README.md")]' in lib
    assert blocks("rust"), "the README shows the Rust API"


@pytest.mark.parametrize("code,line", blocks("sh"), ids=lambda v: f"line{v}" if isinstance(v, int) else "")
def test_sh_block(code: str, line: int) -> None:
    for command in (c.split("#")[0].strip() for c in code.splitlines()):
        if not command:
            continue
        words = command.split()
        assert words[0] == "make", f"README.md:{line}: {command!r} is not a make target"
        out = subprocess.run(["make", "-n", *words[1:]], cwd=ROOT, capture_output=True, text=True)
        assert out.returncode == 0, f"README.md:{line}: make -n {words[1:]}: {out.stderr}"
