"""Run by `make package-check` (a release build of a few minutes, so not in tests/python):
`pip install .` in a fresh venv builds and installs a working package (as a user would from a
clone): the wheel's extension imports, opens a store and round-trips a session."""

from __future__ import annotations

import pathlib
import subprocess
import sys
import venv

ROOT = pathlib.Path(__file__).resolve().parents[2]

SMOKE = """
import omnisession, sys
with omnisession.Store.open() as store:
    s = store.create("alice", data={"n": 1})
    assert store.get(s["id"])["data"] == {"n": 1}
print(omnisession.__file__)
"""


def test_pip_install_dot_in_a_fresh_venv(tmp_path: pathlib.Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    install = subprocess.run([str(python), "-m", "pip", "install", "--quiet", str(ROOT)],
                             capture_output=True, text=True, timeout=1800)
    assert install.returncode == 0, install.stdout + install.stderr
    run = subprocess.run([str(python), "-c", SMOKE], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    # The installed copy, not the source tree, was imported.
    assert str(env_dir) in run.stdout, run.stdout
    assert sys.executable != str(python)
