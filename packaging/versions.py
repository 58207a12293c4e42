#!/usr/bin/env python3
"""One version for every artifact: `[workspace.package] version` in Cargo.toml.

    python3 packaging/versions.py            # check: exit 1, naming each file that drifted
    python3 packaging/versions.py --print    # print the version
    python3 packaging/versions.py --set X.Y.Z  # write X.Y.Z everywhere it is written down

The Python package takes its version from Cargo (pyproject.toml: dynamic = ["version"], maturin
reads bindings-python/Cargo.toml, which says version.workspace = true). The npm packages and the
lockfiles spell it out, so they are checked here; CHANGELOG.md's newest release heading must be it
too. `--root DIR` checks another tree (the drift test uses a copy).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import re
import sys
import tomllib
from typing import Dict, List, Tuple

CRATES = ["core", "cli", "bindings-node", "bindings-python"]
LOCKED = ["omnisession", "omnisession-cli", "omnisession-node", "omnisession-python"]
CHANGELOG_RELEASE = re.compile(r"^## \[(\d+\.\d+\.\d+[^\]]*)\]", re.M)


def cargo_version(root: pathlib.Path) -> str:
    cargo = tomllib.loads((root / "Cargo.toml").read_text(encoding="utf-8"))
    return str(cargo["workspace"]["package"]["version"])


def npm_manifests(root: pathlib.Path) -> List[pathlib.Path]:
    return [root / "package.json", *sorted((root / "npm").glob("*/package.json"))]


def found_versions(root: pathlib.Path) -> List[Tuple[str, str]]:
    """(where, version) for every place the version is written down."""
    found: List[Tuple[str, str]] = [("Cargo.toml [workspace.package] version", cargo_version(root))]
    for crate in CRATES:
        manifest = tomllib.loads((root / crate / "Cargo.toml").read_text(encoding="utf-8"))
        version = manifest["package"].get("version")
        if version != {"workspace": True}:
            found.append((f"{crate}/Cargo.toml (must say version.workspace = true)", str(version)))
    lock = tomllib.loads((root / "Cargo.lock").read_text(encoding="utf-8"))
    for package in lock.get("package", []):
        if package["name"] in LOCKED:
            found.append((f"Cargo.lock {package['name']}", package["version"]))
    for path in npm_manifests(root):
        found.append((str(path.relative_to(root)), json.loads(path.read_text(encoding="utf-8"))["version"]))
    lockfile = root / "package-lock.json"
    if lockfile.exists():
        data = json.loads(lockfile.read_text(encoding="utf-8"))
        found.append(("package-lock.json", data["version"]))
        found.append(('package-lock.json packages[""]', data["packages"][""]["version"]))
    pyproject = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    project = pyproject["project"]
    if "version" in project:
        found.append(("pyproject.toml [project] version", str(project["version"])))
    elif "version" not in project.get("dynamic", []):
        found.append(("pyproject.toml (needs version or dynamic = [\"version\"])", "missing"))
    changelog = root / "CHANGELOG.md"
    releases = CHANGELOG_RELEASE.findall(changelog.read_text(encoding="utf-8")) if changelog.exists() else []
    found.append(("CHANGELOG.md newest '## [x.y.z]' heading", releases[0] if releases else "missing"))
    return found


def drift(root: pathlib.Path) -> List[str]:
    want = cargo_version(root)
    return [f"{where}: {version} (Cargo.toml says {want})" for where, version in found_versions(root) if version != want]


def set_version(root: pathlib.Path, new: str) -> None:
    old = cargo_version(root)
    cargo = root / "Cargo.toml"
    text = cargo.read_text(encoding="utf-8")
    text = re.sub(r'(\[workspace\.package\][^\[]*?\nversion = ")[^"]+(")', rf"\g<1>{new}\g<2>", text, count=1, flags=re.S)
    cargo.write_text(text, encoding="utf-8")
    lock = root / "Cargo.lock"
    text = lock.read_text(encoding="utf-8")
    for name in LOCKED:
        text = text.replace(f'name = "{name}"\nversion = "{old}"', f'name = "{name}"\nversion = "{new}"')
    lock.write_text(text, encoding="utf-8")
    for path in [*npm_manifests(root), root / "package-lock.json"]:
        if not path.exists():
            continue
        data: Dict = json.loads(path.read_text(encoding="utf-8"))
        data["version"] = new
        if path.name == "package-lock.json":
            data["packages"][""]["version"] = new
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"version {old} -> {new}; add a '## [{new}]' section to CHANGELOG.md")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=pathlib.Path, default=pathlib.Path(__file__).resolve().parents[1])
    parser.add_argument("--print", action="store_true", help="print the version and exit")
    parser.add_argument("--set", metavar="VERSION", help="write VERSION everywhere")
    args = parser.parse_args()
    if args.print:
        print(cargo_version(args.root))
        return 0
    if args.set:
        set_version(args.root, args.set)
    problems = drift(args.root)
    if problems:
        print("version drift (the one version is Cargo.toml's [workspace.package] version):", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    print(f"version {cargo_version(args.root)}: Cargo, package.json, npm/*, pyproject (from Cargo), lockfiles and CHANGELOG agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
