#!/usr/bin/env python3
"""What `make dist` wrote to dist/, checked without installing anything (make dist-check installs).

    python3 packaging/check_dist.py [dist]

- the four artifacts are there, named for the one version (packaging/versions.py);
- every one carries LICENSE-MIT and LICENSE-APACHE;
- the main npm package: JS, types, the generated loader, CHANGELOG, `optionalDependencies` on the
  platform packages at exactly this version, no `.node` file, no build scripts;
- each platform package: its `.node` file, `os`/`cpu`/`libc`, the same version;
- the wheel: `cp39-abi3-manylinux_*_x86_64`, one extension module, no stale copy of it;
- the sdist: Cargo manifests, lockfile, sources, no compiled extension.
Prints each artifact's size and the newest glibc symbol each native file needs; with --glibc X,
fails when one needs a newer glibc than X or the wheel is not tagged manylinux_X (auditwheel show,
when on PATH, must agree).
"""

from __future__ import annotations

import json
import pathlib
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from typing import Dict, List

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "packaging"))
from versions import cargo_version  # noqa: E402

LICENCES = {"LICENSE-MIT", "LICENSE-APACHE"}
problems: List[str] = []


def need(condition: bool, message: str) -> None:
    if not condition:
        problems.append(message)


def glibc_floor(data: bytes) -> str:
    """The newest GLIBC_x.y symbol version a shared object needs (objdump -T)."""
    with tempfile.NamedTemporaryFile(suffix=".so") as f:
        f.write(data)
        f.flush()
        out = subprocess.run(["objdump", "-T", f.name], capture_output=True, text=True, check=True).stdout
    versions = set(re.findall(r"GLIBC_(\d+(?:\.\d+)+)", out))
    return max(versions, key=lambda v: tuple(map(int, v.split(".")))) if versions else "none"


def tgz_members(path: pathlib.Path) -> Dict[str, tarfile.TarInfo]:
    with tarfile.open(path) as tar:
        return {m.name: m for m in tar.getmembers()}


def tgz_read(path: pathlib.Path, name: str) -> bytes:
    with tarfile.open(path) as tar:
        member = tar.extractfile(name)
        assert member is not None
        return member.read()


def human(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB" if size >= 1024 * 1024 else f"{size / 1024:.0f} KB"


def older(floor: str, glibc: str | None) -> bool:
    return glibc is None or floor == "none" or tuple(map(int, floor.split("."))) <= tuple(map(int, glibc.split(".")))


def main(dist: pathlib.Path, glibc: str | None) -> int:
    version = cargo_version(ROOT)
    sizes: List[str] = []
    main_tgz = dist / f"omnisession-{version}.tgz"
    platform_tgzs = sorted(dist.glob(f"omnisession-*-{version}.tgz"))
    wheels = sorted(dist.glob(f"omnisession-{version}-cp39-abi3-*manylinux_*_x86_64.whl"))
    sdist = dist / f"omnisession-{version}.tar.gz"
    expected = {main_tgz, sdist, *platform_tgzs, *wheels}
    need(main_tgz.exists(), f"no {main_tgz.name}")
    need(sdist.exists(), f"no {sdist.name}")
    need(len(wheels) == 1, f"want one omnisession-{version}-cp39-abi3-manylinux_*_x86_64.whl, found {wheels}")
    need(any(p.name == f"omnisession-linux-x64-gnu-{version}.tgz" for p in platform_tgzs),
         f"no omnisession-linux-x64-gnu-{version}.tgz")
    strays = sorted(p.name for p in dist.iterdir() if p not in expected)
    need(not strays, f"unexpected files in {dist}: {strays}")
    if problems:
        return report(sizes)

    # The main npm package.
    members = tgz_members(main_tgz)
    manifest = json.loads(tgz_read(main_tgz, "package/package.json"))
    need(manifest["version"] == version, f"{main_tgz.name}: version {manifest['version']}")
    need(LICENCES <= {n.split("/", 1)[1] for n in members}, f"{main_tgz.name}: licence files missing")
    need("package/CHANGELOG.md" in members and "package/README.md" in members, f"{main_tgz.name}: no README/CHANGELOG")
    need(not [n for n in members if n.endswith(".node")], f"{main_tgz.name}: carries a .node file")
    for entry in ["index.js", "index.mjs", "index.d.ts", "native.js", "native.d.ts", "express.js", "fetch.js"]:
        need(f"package/bindings-node/js/{entry}" in members, f"{main_tgz.name}: no bindings-node/js/{entry}")
    need("scripts" not in manifest and "devDependencies" not in manifest, f"{main_tgz.name}: build scripts or devDependencies")
    loader = tgz_read(main_tgz, "package/bindings-node/js/native.js").decode()
    need(f"expected {version} but got" in loader, f"{main_tgz.name}: native.js checks another version")
    optional = manifest.get("optionalDependencies", {})
    sizes.append(f"{main_tgz.name}: {human(main_tgz.stat().st_size)} ({human(sum(m.size for m in members.values()))} unpacked)")

    # The platform packages.
    packed = {}
    for tgz in platform_tgzs:
        members = tgz_members(tgz)
        pm = json.loads(tgz_read(tgz, "package/package.json"))
        packed[pm["name"]] = pm["version"]
        need(pm["version"] == version, f"{tgz.name}: version {pm['version']}")
        need(LICENCES <= {n.split("/", 1)[1] for n in members}, f"{tgz.name}: licence files missing")
        need(all(k in pm for k in ("os", "cpu", "main")), f"{tgz.name}: no os/cpu/main")
        addon = f"package/{pm['main']}"
        need(addon in members, f"{tgz.name}: its main {pm['main']} is not in it")
        if addon in members:
            floor = glibc_floor(tgz_read(tgz, addon))
            need(older(floor, glibc), f"{tgz.name}: the addon needs glibc {floor}, newer than {glibc}")
            sizes.append(f"{tgz.name}: {human(tgz.stat().st_size)} ({human(members[addon].size)} .node, needs glibc >= {floor})")
    need(optional == packed, f"{main_tgz.name}: optionalDependencies {optional} are not the packed platform packages {packed}")

    # The wheel.
    wheel = wheels[0]
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        metadata = zf.read(f"omnisession-{version}.dist-info/METADATA").decode()
        wheel_info = zf.read(f"omnisession-{version}.dist-info/WHEEL").decode()
        extensions = [n for n in names if n.endswith(".so")]
        need(extensions == ["omnisession/_native.abi3.so"], f"{wheel.name}: extension modules {extensions}")
        floor = glibc_floor(zf.read(extensions[0])) if extensions else "?"
        ext_size = zf.getinfo(extensions[0]).file_size if extensions else 0
    need(f"\nVersion: {version}\n" in metadata, f"{wheel.name}: METADATA version")
    need(older(floor, glibc), f"{wheel.name}: the extension needs glibc {floor}, newer than {glibc}")
    if glibc:
        tag = f"manylinux_{glibc.replace('.', '_')}_x86_64"
        need(f"Tag: cp39-abi3-{tag}" in wheel_info, f"{wheel.name}: not tagged {tag}")
        # A second opinion on the manylinux policy (maturin audited it when it built the wheel).
        try:
            shown = subprocess.run(["auditwheel", "show", str(wheel)], capture_output=True, text=True).stdout
        except FileNotFoundError:
            shown = None
            print("auditwheel not on PATH: only maturin's audit checked the manylinux policy")
        if shown is not None:
            need(f'"{tag}"' in " ".join(shown.split()), f"auditwheel show {wheel.name}: {shown}")
    need("License-Expression: MIT OR Apache-2.0" in metadata, f"{wheel.name}: no License-Expression")
    need(LICENCES <= {pathlib.PurePosixPath(n).name for n in names if "/licenses/" in n},
         f"{wheel.name}: licence files missing from .dist-info/licenses")
    need(re.search(r"^Tag: cp39-abi3-manylinux_\d+_\d+_x86_64$", wheel_info, re.M) is not None, f"{wheel.name}: WHEEL tags {wheel_info}")
    sizes.append(f"{wheel.name}: {human(wheel.stat().st_size)} ({human(ext_size)} extension, needs glibc >= {floor})")

    # The sdist.
    members = tgz_members(sdist)
    top = f"omnisession-{version}/"
    for entry in ["pyproject.toml", "Cargo.toml", "Cargo.lock", "README.md", "CHANGELOG.md", "core/Cargo.toml",
                  "core/src/lib.rs", "bindings-python/Cargo.toml", "bindings-python/src/lib.rs",
                  "bindings-python/python/omnisession/__init__.py", "PKG-INFO"]:
        need(top + entry in members, f"{sdist.name}: no {entry}")
    need(LICENCES <= {pathlib.PurePosixPath(n).name for n in members}, f"{sdist.name}: licence files missing")
    need(not [n for n in members if n.endswith((".so", ".node"))], f"{sdist.name}: carries a compiled file")
    pkg_info = tgz_read(sdist, top + "PKG-INFO").decode()
    need(f"\nVersion: {version}\n" in pkg_info, f"{sdist.name}: PKG-INFO version")
    sizes.append(f"{sdist.name}: {human(sdist.stat().st_size)}")
    return report(sizes)


def report(sizes: List[str]) -> int:
    for line in sizes:
        print(line)
    if problems:
        print("dist/ is not right:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    print("dist/: every artifact has the version, the licences and its contents")
    return 0


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dist", nargs="?", type=pathlib.Path, default=ROOT / "dist")
    parser.add_argument("--glibc", help="the newest glibc the native files may need (e.g. 2.17)")
    args = parser.parse_args()
    sys.exit(main(args.dist.resolve(), args.glibc))
