"""`make dist-check`: the artifacts `make dist` wrote, installed the way users install them, with
no Rust toolchain.

Nothing may compile, but for one test (the sdist, which pip builds where no wheel fits, as
`pip install .` does from a clone): every command runs with a PATH made of a directory of
symlinks to node, npm, npx, python3 and the few shell tools they call; cargo, rustc, cc, gcc and
ld are not on it. The npm project depends on `omnisession` alone, as `npm install omnisession`
writes it; the platform package comes through the main package's optionalDependencies (an npm
`overrides` entry points that name at dist/'s tarball, standing in for the registry). The venv
gets the wheel. Then the README's Express, Fetch, FastAPI and Django blocks run through the same
runners as tests/python/test_readme.py (its block list, runners and output check are imported,
not copied), and each run reports which omnisession files it loaded: they must be the installed
copies, never this source tree.

Not named test_*.py, so that `pytest` in tests/python never collects it: it needs dist/
(`make package-check`, in `make test`, runs `make dist` first) and a few minutes. DIST and
DIST_TARGET (the Makefile passes them) say where the artifacts are and where the timings go
(dist-check-times.txt); DIST_CHECK_SDIST=0 skips the one test that compiles (the sdist builds a
working wheel).
"""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time
import venv
from typing import Dict, Iterator, List, Tuple

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
DIST = pathlib.Path(os.environ.get("DIST", ROOT / "dist")).resolve()
DIST_TARGET = pathlib.Path(os.environ.get("DIST_TARGET", "/tmp/dist-target"))
sys.path.insert(0, str(ROOT / "packaging"))
from versions import cargo_version  # noqa: E402

VERSION = cargo_version(ROOT)
TOOLS = ["node", "npm", "npx", "sh", "env", "uname", "cat", "ls", "mkdir", "rm", "cp", "mv", "chmod", "tar", "gzip"]
COMPILERS = ["cargo", "rustc", "rustup", "cc", "gcc", "c++", "g++", "clang", "ld", "maturin", "zig"]
DROPPED_ENV = ("CARGO", "RUSTUP", "RUSTC", "RUSTFLAGS", "PYO3", "MATURIN", "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME",
               "NODE_PATH", "NODE_OPTIONS", "NAPI_RS", "CC", "CXX", "LD_LIBRARY_PATH", "npm_")
TIMES: Dict[str, float] = {}


def _load_readme_machinery():
    spec = importlib.util.spec_from_file_location("_readme_blocks", ROOT / "tests" / "python" / "test_readme.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_readme = _load_readme_machinery()


def readme_block(lang: str, heading: str) -> Tuple[str, int]:
    """The first `lang` block under the README heading that starts with `heading`."""
    lines = _readme.README.splitlines()
    for kind, code, line in _readme.BLOCKS:
        if kind != lang:
            continue
        above = next(l for l in reversed(lines[: line - 1]) if l.startswith("#") and not l.startswith("# "))
        if above.lstrip("#").strip().startswith(heading):
            return code, line
    raise AssertionError(f"README.md has no {lang} block under a heading starting {heading!r}")


EXAMPLES = {
    "express": ("js", "Express"),
    "fetch": ("js", "Fetch API servers"),
    "fastapi": ("python", "FastAPI and Starlette"),
    "django": ("python", "Django"),
}


def artifact(pattern: str) -> pathlib.Path:
    found = sorted(DIST.glob(pattern))
    if not found:
        pytest.fail(f"no {pattern} in {DIST}: run `make dist` first")
    assert len(found) == 1, found
    return found[0]


@pytest.fixture(scope="module")
def toolless(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, str]:
    """The environment every command here runs in: PATH = symlinks to node/npm/python and shell tools."""
    bin_dir = tmp_path_factory.mktemp("toolless-bin")
    for tool in TOOLS:
        found = shutil.which(tool)
        assert found, f"{tool} is needed"
        (bin_dir / tool).symlink_to(os.path.realpath(found) if tool in ("npm", "npx") else found)
    # The base interpreter (pyenv's shim is a script that needs pyenv itself).
    base = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    (bin_dir / "python3").symlink_to(base)
    env = {k: v for k, v in os.environ.items() if not k.startswith(DROPPED_ENV)}
    env["PATH"] = str(bin_dir)
    for compiler in COMPILERS:
        assert shutil.which(compiler, path=env["PATH"]) is None, f"{compiler} is reachable"
    return env


def run(cmd: List[str], env: Dict[str, str], cwd: pathlib.Path, timeout: int = 600) -> subprocess.CompletedProcess:
    out = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{out.stdout}\n{out.stderr}"
    return out


# ----------------------------------------------------------------------------------------- Node

# Written into each node run with --require: which omnisession files the process loaded.
REPORT_CJS = """
process.on('exit', () => {
  const loaded = Object.keys(require.cache).filter((f) => f.includes('omnisession'))
  process.stderr.write('OMNISESSION-LOADED ' + JSON.stringify(loaded) + '\\n')
})
"""


def npm_project(directory: pathlib.Path, deps: Dict[str, str]) -> None:
    """A project whose package.json says what `npm install omnisession ...` writes, plus the stand-in
    for the registry: the platform package name resolved to dist/'s tarball."""
    platform_tgz = artifact(f"omnisession-linux-x64-gnu-{VERSION}.tgz")
    directory.mkdir(parents=True)
    (directory / "package.json").write_text(json.dumps({
        "name": directory.name, "version": "1.0.0", "private": True,
        "dependencies": {"omnisession": f"file:{artifact(f'omnisession-{VERSION}.tgz')}", **deps},
        "overrides": {"omnisession-linux-x64-gnu": f"file:{platform_tgz}"},
    }, indent=2))


def loaded_files(stderr: str) -> List[str]:
    found = re.findall(r"^OMNISESSION-LOADED (.*)$", stderr, re.M)
    assert found, stderr
    return json.loads(found[-1])


def assert_installed_node_copy(loaded: List[str], project: pathlib.Path) -> None:
    assert loaded, "no omnisession module was loaded"
    for path in loaded:
        assert path.startswith(str(project / "node_modules")), f"{path} is not the installed copy"
        assert not path.startswith(str(ROOT)), f"{path} is the source tree"
    addons = [p for p in loaded if p.endswith(".node")]
    assert addons == [str(project / "node_modules" / "omnisession-linux-x64-gnu" / "omnisession.linux-x64-gnu.node")], addons


@pytest.fixture(scope="module")
def node_app(toolless: Dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    app = tmp_path_factory.mktemp("npm") / "app"
    npm_project(app, {"express": "5.2.0", "express-session": "1.19.0"})
    start = time.monotonic()
    run(["npm", "install", "--no-audit", "--no-fund"], toolless, app)
    TIMES["npm: install omnisession + express + express-session (registry, warm npm cache)"] = time.monotonic() - start
    (app / "report.cjs").write_text(REPORT_CJS)
    return app


def test_npm_install_takes_the_platform_package_through_optional_dependencies(node_app: pathlib.Path) -> None:
    installed = node_app / "node_modules"
    main = json.loads((installed / "omnisession" / "package.json").read_text())
    assert main["optionalDependencies"] == {"omnisession-linux-x64-gnu": VERSION}
    assert not list((installed / "omnisession").rglob("*.node")), "the main package carries an addon"
    platform = json.loads((installed / "omnisession-linux-x64-gnu" / "package.json").read_text())
    assert platform["version"] == VERSION
    for package in ("omnisession", "omnisession-linux-x64-gnu"):
        for licence in ("LICENSE-MIT", "LICENSE-APACHE"):
            assert (installed / package / licence).is_file(), f"{package} has no {licence}"


def test_npx_omnisession_runs_the_admin_command(node_app: pathlib.Path, toolless: Dict[str, str]) -> None:
    """`npx omnisession`: the package's bin, the admin command of the installed addon."""
    db = node_app / "cli.db"
    run(["node", "-e", "const { Store } = require('omnisession');"
         f"Store.open({{ backend: 'sqlite', path: {json.dumps(str(db))} }})"
         ".then(async (s) => { await s.create({ userId: 'u' }); await s.close() })"], toolless, node_app)
    out = run(["npx", "--no-install", "omnisession", "stats", "--url", f"sqlite://{db}", "--json"], toolless, node_app)
    assert json.loads(out.stdout)["live"] == 1, out.stdout


@pytest.mark.parametrize("example", ["express", "fetch"])
def test_readme_node_example_runs_against_the_installed_package(
    example: str, node_app: pathlib.Path, toolless: Dict[str, str]
) -> None:
    code, line = readme_block(*EXAMPLES[example])
    work = node_app / f"readme-{example}"
    work.mkdir(exist_ok=True)
    (work / "block.mjs").write_text(code, encoding="utf-8")
    out = subprocess.run(
        ["node", "--require", str(node_app / "report.cjs"), str(_readme.RUNNERS / "run_js_block.mjs"), str(work / "block.mjs")],
        cwd=work, env=toolless, capture_output=True, text=True, timeout=120,
    )
    _readme.check_output(out, _readme.expected_output(code, "console.log", "//"), f"README.md:{line} ({example})")
    print(f"README.md:{line} ({example}):", out.stdout.strip(), "| loaded:", *loaded_files(out.stderr))
    assert_installed_node_copy(loaded_files(out.stderr), node_app)


FIRST_SESSION_JS = """
const { Store } = require('omnisession')
Store.open().then(async (store) => {
  const s = await store.create({ userId: 'alice', data: { n: 1 } })
  console.log((await store.get(s.id)).data.n, require.resolve('omnisession'))
  await store.close()
})
"""


def test_npm_empty_project_to_first_session(toolless: Dict[str, str], tmp_path: pathlib.Path) -> None:
    """The time users wait: `npm install omnisession` in an empty project, then a first session."""
    app = tmp_path / "first"
    start = time.monotonic()
    npm_project(app, {})
    run(["npm", "install", "--no-audit", "--no-fund"], toolless, app)
    installed = time.monotonic()
    out = run(["node", "-e", FIRST_SESSION_JS], toolless, app)
    done = time.monotonic()
    assert out.stdout.split() == ["1", str(app / "node_modules" / "omnisession" / "bindings-node" / "js" / "index.js")]
    TIMES["npm: install (main + platform package, no other dependency)"] = installed - start
    TIMES["npm: empty project -> first session"] = done - start


UNSUPPORTED_JS = """
Object.defineProperty(process, 'arch', { value: 'riscv64' })
try {
  require('omnisession')
  console.log('loaded')
} catch (err) {
  console.log(JSON.stringify({ code: err.code, message: err.message }))
}
"""


def test_unsupported_platform_names_the_platform_the_packages_and_the_source_build(
    node_app: pathlib.Path, toolless: Dict[str, str]
) -> None:
    out = run(["node", "-e", UNSUPPORTED_JS], toolless, node_app)
    error = json.loads(out.stdout)
    assert error["code"] == "OMNISESSION_NO_NATIVE_ADDON", error
    message = error["message"]
    assert "linux-riscv64-gnu" in message and "omnisession-linux-x64-gnu" in message, message
    assert "build from source" in message and "make node" in message, message
    assert "MODULE_NOT_FOUND" not in message.splitlines()[0]


def test_missing_platform_package_says_which_package_and_why(toolless: Dict[str, str], tmp_path: pathlib.Path) -> None:
    app = tmp_path / "no-optional"
    npm_project(app, {})
    run(["npm", "install", "--no-audit", "--no-fund", "--omit=optional"], toolless, app)
    assert not (app / "node_modules" / "omnisession-linux-x64-gnu").exists()
    out = subprocess.run(["node", "-e", "require('omnisession')"], env=toolless, cwd=app, capture_output=True, text=True)
    assert out.returncode != 0
    assert "found no native addon it can load for this platform: linux-x64-gnu" in out.stderr, out.stderr
    assert "omnisession-linux-x64-gnu is the package for this platform" in out.stderr, out.stderr
    assert "--omit=optional" in out.stderr, out.stderr


# --------------------------------------------------------------------------------------- Python

WRAPPER_PY = """
import runpy, sys
runner, block = sys.argv[1], sys.argv[2]
sys.argv = [runner, block]
try:
    runpy.run_path(runner, run_name="__main__")
finally:
    # What the block itself imported (None if it imported no omnisession at all).
    loaded = [getattr(sys.modules.get(m), "__file__", None) for m in ("omnisession", "omnisession._native")]
    print("OMNISESSION-LOADED", *loaded, file=sys.stderr)
"""


def make_venv(directory: pathlib.Path, env: Dict[str, str]) -> pathlib.Path:
    run(["python3", "-m", "venv", str(directory)], env, directory.parent)
    return directory / "bin" / "python"


def assert_installed_python_copy(stderr: str, venv_dir: pathlib.Path) -> None:
    found = re.findall(r"^OMNISESSION-LOADED (\S+) (\S+)$", stderr, re.M)
    assert found, stderr
    for path in found[-1]:
        assert path.startswith(str(venv_dir / "lib")) and "site-packages" in path, f"{path} is not the installed copy"
        assert not path.startswith(str(ROOT)), f"{path} is the source tree"


@pytest.fixture(scope="module")
def py_app(toolless: Dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    base = tmp_path_factory.mktemp("pip")
    python = make_venv(base / "venv", toolless)
    wheel = artifact(f"omnisession-{VERSION}-cp39-abi3-*manylinux_*_x86_64.whl")
    start = time.monotonic()
    run([str(python), "-m", "pip", "install", "--quiet", str(wheel), "fastapi", "uvicorn", "httpx", "django>=4.2"],
        toolless, base)
    TIMES["pip: install the wheel + fastapi, uvicorn, httpx, django (PyPI, warm pip cache)"] = time.monotonic() - start
    (base / "wrapper.py").write_text(WRAPPER_PY)
    return base


def test_pip_installed_the_wheel_with_its_licences(py_app: pathlib.Path, toolless: Dict[str, str]) -> None:
    python = py_app / "venv" / "bin" / "python"
    out = run([str(python), "-c", "import importlib.metadata as m; d = m.distribution('omnisession'); "
               "print(d.version); print(*sorted(f.name for f in d.files if 'licenses' in str(f)))"], toolless, py_app)
    version, licences = out.stdout.splitlines()
    assert version == VERSION
    assert licences.split() == ["LICENSE-APACHE", "LICENSE-MIT"], licences


def test_the_wheel_installs_the_omnisession_console_script(py_app: pathlib.Path, toolless: Dict[str, str]) -> None:
    db = py_app / "cli.db"
    python = py_app / "venv" / "bin" / "python"
    run([str(python), "-c", "import omnisession, sys\n"
         f"with omnisession.Store.open(backend='sqlite', path={str(db)!r}) as s: s.create('u')"], toolless, py_app)
    out = run([str(py_app / "venv" / "bin" / "omnisession"), "stats", "--url", f"sqlite://{db}", "--json"],
              toolless, py_app)
    assert json.loads(out.stdout)["live"] == 1, out.stdout


@pytest.mark.parametrize("example", ["fastapi", "django"])
def test_readme_python_example_runs_against_the_installed_wheel(
    example: str, py_app: pathlib.Path, toolless: Dict[str, str], tmp_path: pathlib.Path
) -> None:
    code, line = readme_block(*EXAMPLES[example])
    (tmp_path / "block.py").write_text(code, encoding="utf-8")
    out = subprocess.run(
        [str(py_app / "venv" / "bin" / "python"), "-W", "error", str(py_app / "wrapper.py"),
         str(_readme.RUNNERS / "run_python_block.py"), str(tmp_path / "block.py")],
        cwd=tmp_path, env=toolless, capture_output=True, text=True, timeout=120,
    )
    _readme.check_output(out, _readme.expected_output(code, "print", "#"), f"README.md:{line} ({example})")
    print(f"README.md:{line} ({example}):", out.stdout.strip(), "|", out.stderr.strip().splitlines()[-1])
    assert_installed_python_copy(out.stderr, py_app / "venv")


FIRST_SESSION_PY = """
import omnisession
with omnisession.Store.open() as store:
    s = store.create("alice", data={"n": 1})
    print(store.get(s["id"])["data"]["n"], omnisession.__file__)
"""


def test_pip_empty_venv_to_first_session(toolless: Dict[str, str], tmp_path: pathlib.Path) -> None:
    """The time users wait: a new venv, `pip install omnisession` (the wheel), a first session."""
    wheel = artifact(f"omnisession-{VERSION}-cp39-abi3-*manylinux_*_x86_64.whl")
    start = time.monotonic()
    python = make_venv(tmp_path / "venv", toolless)
    made = time.monotonic()
    run([str(python), "-m", "pip", "install", "--quiet", str(wheel)], toolless, tmp_path)
    installed = time.monotonic()
    out = run([str(python), "-c", FIRST_SESSION_PY], toolless, tmp_path)
    done = time.monotonic()
    number, path = out.stdout.split()
    assert number == "1" and path.startswith(str(tmp_path / "venv")), out.stdout
    TIMES["pip: python3 -m venv"] = made - start
    TIMES["pip: pip install (the wheel, no other dependency)"] = installed - made
    TIMES["pip: empty venv -> first session"] = done - start


@pytest.mark.skipif(os.environ.get("DIST_CHECK_SDIST") == "0", reason="DIST_CHECK_SDIST=0")
def test_sdist_builds_a_working_wheel(tmp_path: pathlib.Path) -> None:
    """The one test with a Rust toolchain: `pip wheel` of the sdist (what pip does on a platform with
    no wheel), with maturin from PyPI; DIST_TARGET/sdist keeps the dependencies compiled between runs."""
    sdist = artifact(f"omnisession-{VERSION}.tar.gz")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH", "MATURIN", "PYO3"))}
    env["CARGO_TARGET_DIR"] = str(DIST_TARGET / "sdist")  # its own: a plain cargo build, not make dist's zig one
    # Cargo hashes path crates relative to the workspace, so the unpacked sdist would reuse the last
    # run's omnisession crates as fresh: forget them, so the sdist's own sources are compiled.
    for fingerprint in (DIST_TARGET / "sdist").glob("**/.fingerprint/omnisession-*"):
        shutil.rmtree(fingerprint)
    start = time.monotonic()
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-cache-dir", "--no-deps", "-w", str(tmp_path / "wheels"), str(sdist)],
        env, tmp_path, timeout=1800)
    TIMES["sdist: pip wheel (release build of the omnisession crates; all crates on a first run)"] = time.monotonic() - start
    built = list((tmp_path / "wheels").glob(f"omnisession-{VERSION}-cp39-abi3-*.whl"))
    assert len(built) == 1, built
    python = tmp_path / "venv" / "bin" / "python"
    venv.create(tmp_path / "venv", with_pip=True)
    run([str(python), "-m", "pip", "install", "--quiet", str(built[0])], env, tmp_path)
    out = run([str(python), "-c", FIRST_SESSION_PY], env, tmp_path)
    assert out.stdout.split()[0] == "1", out.stdout


VERSIONED = ["Cargo.toml", "Cargo.lock", "package.json", "package-lock.json", "pyproject.toml", "CHANGELOG.md",
             "core/Cargo.toml", "cli/Cargo.toml", "bindings-node/Cargo.toml", "bindings-python/Cargo.toml",
             "npm/linux-x64-gnu/package.json"]


@pytest.mark.parametrize("where,old,new", [
    ("package.json", '"version": "{v}"', '"version": "9.9.9"'),
    ("npm/linux-x64-gnu/package.json", '"version": "{v}"', '"version": "9.9.9"'),
    ("pyproject.toml", 'dynamic = ["version"]', 'version = "9.9.9"'),
    ("CHANGELOG.md", "## [{v}]", "## [9.9.9]"),
    ("bindings-python/Cargo.toml", "version.workspace = true", 'version = "9.9.9"'),
])
def test_version_check_fails_when_one_place_drifts(where: str, old: str, new: str, tmp_path: pathlib.Path) -> None:
    for name in VERSIONED:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, tmp_path / name)
    check = [sys.executable, str(ROOT / "packaging" / "versions.py"), "--root", str(tmp_path)]
    assert subprocess.run(check, capture_output=True).returncode == 0
    text = (tmp_path / where).read_text(encoding="utf-8")
    assert old.format(v=VERSION) in text, (where, old)
    (tmp_path / where).write_text(text.replace(old.format(v=VERSION), new, 1), encoding="utf-8")
    out = subprocess.run(check, capture_output=True, text=True)
    assert out.returncode == 1 and where in out.stderr and "9.9.9" in out.stderr, out.stderr


@pytest.fixture(scope="module", autouse=True)
def timings() -> Iterator[None]:
    yield
    if TIMES:
        DIST_TARGET.mkdir(parents=True, exist_ok=True)
        lines = [f"{seconds:6.1f} s  {what}" for what, seconds in TIMES.items()]
        (DIST_TARGET / "dist-check-times.txt").write_text("\n".join(lines) + "\n")
