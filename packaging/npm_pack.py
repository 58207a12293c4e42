#!/usr/bin/env python3
"""The npm packages, in napi-rs's layout, packed with `npm pack` into DIST (default dist/).

    python3 packaging/npm_pack.py [--dist dist] [--skip-build]

1. `napi build --platform --release --strip` (with --glibc X: `--cross-compile --target
   x86_64-unknown-linux-gnu.X`, zig through cargo-zigbuild) into a staging directory (never into
   bindings-node/js, so the clone's own debug addon and loader stay as they are). The target dir
   is $CARGO_TARGET_DIR (the Makefile sets /tmp/dist-target).
2. One platform package per npm/<platform>/ directory (made by `napi create-npm-dirs`): its
   package.json and README, the `.node` file, the licence files -> omnisession-<platform>-<v>.tgz.
3. The main package: the JS, the types, the loader this build generated (native.js,
   native.d.ts), README, CHANGELOG and licences, and a package.json derived from the root one
   as `napi prepublish` would: `optionalDependencies` on each platform package at this exact
   version, no scripts and no devDependencies (they build from source) -> omnisession-<v>.tgz.
   The root package.json keeps no optionalDependencies, so `npm install` in a clone never asks
   the registry for the platform packages.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
from typing import Dict, List

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "packaging"))
from licenses import license_files  # noqa: E402

JS_DIR = ROOT / "bindings-node" / "js"
GENERATED = {"native.js", "native.d.ts"}  # written by this build, not taken from the tree
MAIN_FILES = ["bindings-node/js/*.js", "bindings-node/js/*.mjs", "bindings-node/js/*.d.ts", "CHANGELOG.md"]
DROPPED_FIELDS = ["scripts", "devDependencies"]


def run(cmd: List[str], cwd: pathlib.Path, env: Dict[str, str] | None = None) -> str:
    print("+", " ".join(cmd), flush=True)
    out = subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.PIPE, text=True)
    return out.stdout


def npm_pack(package_dir: pathlib.Path, dist: pathlib.Path) -> pathlib.Path:
    out = run(["npm", "pack", "--json", "--pack-destination", str(dist)], cwd=package_dir)
    info = json.loads(out)[0]
    tarball = dist / info["filename"]
    print(f"  {tarball.name}: {info['size']} bytes packed, {info['unpackedSize']} unpacked, {info['entryCount']} files")
    return tarball


def build_addon(out_dir: pathlib.Path, target_dir: pathlib.Path, glibc: str | None) -> None:
    napi = ROOT / "node_modules" / ".bin" / "napi"
    if not napi.exists():
        run(["npm", "install", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=ROOT)
    env = dict(os.environ, CARGO_TARGET_DIR=str(target_dir))
    # With --glibc: zig links against that glibc (cargo-zigbuild and zig on PATH: the Makefile's tools venv).
    cross = ["--cross-compile", "--target", f"x86_64-unknown-linux-gnu.{glibc}"] if glibc else []
    run([str(napi), "build", "--platform", "--release", "--strip", *cross,
         "--manifest-path", "bindings-node/Cargo.toml", "--package-json-path", "package.json",
         "--target-dir", str(target_dir), "--output-dir", str(out_dir),
         "--js", "native.js", "--dts", "native.d.ts"], cwd=ROOT, env=env)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dist", type=pathlib.Path, default=ROOT / "dist")
    parser.add_argument("--skip-build", action="store_true", help="reuse the addon already in the staging dir")
    parser.add_argument("--glibc", help="link the x86_64 Linux addon against this glibc (e.g. 2.17) with zig")
    args = parser.parse_args()
    dist = args.dist.resolve()
    dist.mkdir(parents=True, exist_ok=True)
    target_dir = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", "/tmp/dist-target")).resolve()
    stage = target_dir / "npm-stage"
    built = stage / "build"
    if not args.skip_build:
        shutil.rmtree(built, ignore_errors=True)
        built.mkdir(parents=True)
        build_addon(built, target_dir, args.glibc)
    licences = license_files()

    root_manifest = json.loads((ROOT / "package.json").read_text(encoding="utf-8"))
    name, version = root_manifest["name"], root_manifest["version"]
    binary = root_manifest["napi"]["binaryName"]

    # The platform packages.
    optional: Dict[str, str] = {}
    for platform_dir in sorted((ROOT / "npm").iterdir()):
        manifest = json.loads((platform_dir / "package.json").read_text(encoding="utf-8"))
        platform = platform_dir.name
        addon = built / f"{binary}.{platform}.node"
        if not addon.exists():
            print(f"  no {addon.name} built here: {manifest['name']} is not packed", file=sys.stderr)
            continue
        package = stage / platform
        shutil.rmtree(package, ignore_errors=True)
        package.mkdir()
        shutil.copy2(platform_dir / "package.json", package)
        shutil.copy2(platform_dir / "README.md", package)
        shutil.copy2(addon, package)
        for licence in licences:
            shutil.copy2(licence, package / licence.name)
        assert manifest["version"] == version, f"{platform_dir}/package.json is {manifest['version']}, not {version}"
        npm_pack(package, dist)
        optional[manifest["name"]] = version
    if not optional:
        print("no platform package was packed", file=sys.stderr)
        return 1

    # The main package.
    package = stage / name
    shutil.rmtree(package, ignore_errors=True)
    (package / "bindings-node" / "js").mkdir(parents=True)
    for source in sorted(JS_DIR.iterdir()):
        if source.suffix in {".js", ".mjs", ".ts"} and source.name not in GENERATED:
            shutil.copy2(source, package / "bindings-node" / "js" / source.name)
    for generated in sorted(GENERATED):
        shutil.copy2(built / generated, package / "bindings-node" / "js" / generated)
    for extra in [ROOT / "README.md", ROOT / "CHANGELOG.md", *licences]:
        shutil.copy2(extra, package / extra.name)
    manifest = {k: v for k, v in root_manifest.items() if k not in DROPPED_FIELDS}
    manifest["files"] = MAIN_FILES + [licence.name for licence in licences]
    manifest["optionalDependencies"] = optional
    (package / "package.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    npm_pack(package, dist)
    return 0


if __name__ == "__main__":
    sys.exit(main())
