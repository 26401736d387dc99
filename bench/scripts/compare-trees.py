#!/usr/bin/env python3
"""Compare two hoisted node_modules trees package path by package path.

Usage: compare-trees.py FIRST SECOND [--json] [--limit N]

FIRST and SECOND are project directories (their `node_modules` is walked) or npm lockfiles
(`package-lock.json` v2/v3, whose `packages` keys are the paths npm would install; links and
the root are left out). For each directory it lists every installed package path
(`node_modules/a`, `node_modules/@s/b`, `node_modules/a/node_modules/b`, ...) with the version
from its package.json. Prints the paths only in the first tree, only in the second, those whose
versions differ, and a summary: counts and the share of the union of paths that is equal;
then the distinct `name@version`s each tree installs wherever they sit (resolution agreement,
independent of hoisting).
Directories starting with `.` (`.bin`, `.cache`, `.package-lock.json`, ...) are not packages.
Exit status: 0 when the trees are equal, 1 when they differ, 2 on bad usage.
With --json, prints one JSON object (the same lists and counts) instead of text.
"""

import json
import os
import sys


def read_version(package_dir):
    """The `version` of package_dir/package.json, or None when it is missing or unreadable."""
    try:
        with open(os.path.join(package_dir, "package.json"), encoding="utf-8") as f:
            return json.load(f).get("version")
    except (OSError, ValueError):
        return None


def package_dirs(node_modules):
    """Yield (name, dir) for each package directly inside a node_modules directory."""
    try:
        entries = sorted(os.listdir(node_modules))
    except OSError:
        return
    for entry in entries:
        if entry.startswith("."):
            continue
        path = os.path.join(node_modules, entry)
        if entry.startswith("@"):
            if not os.path.isdir(path):
                continue
            for sub in sorted(os.listdir(path)):
                if not sub.startswith("."):
                    yield f"{entry}/{sub}", os.path.join(path, sub)
        elif os.path.isdir(path):
            yield entry, path


def walk(project):
    """Map every package path under project/node_modules to its version."""
    tree = {}
    stack = [("node_modules", os.path.join(project, "node_modules"))]
    while stack:
        rel, node_modules = stack.pop()
        for name, package_dir in package_dirs(node_modules):
            package_rel = f"{rel}/{name}"
            tree[package_rel] = read_version(package_dir)
            # A linked package (file:/link:) is not walked into: its node_modules is its own.
            if not os.path.islink(package_dir):
                stack.append((f"{package_rel}/node_modules", os.path.join(package_dir, "node_modules")))
    return tree


def read_lock(lock_path):
    """Map every package path of an npm lockfile (v2/v3 `packages`) to its version."""
    with open(lock_path, encoding="utf-8") as f:
        packages = json.load(f).get("packages", {})
    return {
        path: entry.get("version")
        for path, entry in packages.items()
        if path.startswith("node_modules/") and not entry.get("link")
    }


def load(source):
    """The tree of a project directory or of a package-lock.json file."""
    return read_lock(source) if os.path.isfile(source) else walk(source)


def name_versions(tree):
    """The distinct `name@version`s of a tree, wherever they are installed."""
    return {f"{path.rsplit('node_modules/', 1)[1]}@{version}" for path, version in tree.items()}


def compare(first, second):
    """The comparison of two trees as a dict of sorted lists and counts."""
    only_first = sorted(set(first) - set(second))
    only_second = sorted(set(second) - set(first))
    common = sorted(set(first) & set(second))
    differs = [(p, first[p], second[p]) for p in common if first[p] != second[p]]
    equal = len(common) - len(differs)
    union = len(set(first) | set(second))
    first_nv, second_nv = name_versions(first), name_versions(second)
    return {
        "first_name_versions": len(first_nv),
        "second_name_versions": len(second_nv),
        "shared_name_versions": len(first_nv & second_nv),
        "name_versions_only_first": sorted(first_nv - second_nv),
        "name_versions_only_second": sorted(second_nv - first_nv),
        "first_count": len(first),
        "second_count": len(second),
        "union": union,
        "equal": equal,
        "equal_percent": round(100.0 * equal / union, 2) if union else 100.0,
        "only_first": [[p, first[p]] for p in only_first],
        "only_second": [[p, second[p]] for p in only_second],
        "version_differs": [list(d) for d in differs],
    }


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    as_json = "--json" in argv
    limit = None
    if "--limit" in argv:
        i = argv.index("--limit")
        try:
            limit = int(argv[i + 1])
            args.remove(argv[i + 1])
        except (IndexError, ValueError):
            print("--limit needs a number", file=sys.stderr)
            return 2
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    first_dir, second_dir = args
    for d in args:
        if not os.path.isfile(d) and not os.path.isdir(os.path.join(d, "node_modules")):
            print(f"{d} is neither a lockfile nor a directory with node_modules", file=sys.stderr)
            return 2
    result = compare(load(first_dir), load(second_dir))
    result["first"] = first_dir
    result["second"] = second_dir
    if as_json:
        print(json.dumps(result, indent=1))
    else:
        def show(title, rows):
            print(f"{title}: {len(rows)}")
            for row in rows[:limit] if limit is not None else rows:
                print("  " + "  ".join(str(x) for x in row))
        show(f"only in {first_dir}", result["only_first"])
        show(f"only in {second_dir}", result["only_second"])
        show(f"version differs ({first_dir}, {second_dir})", result["version_differs"])
        show(f"name@version only in {first_dir}", [[x] for x in result["name_versions_only_first"]])
        show(f"name@version only in {second_dir}", [[x] for x in result["name_versions_only_second"]])
        print(
            f"summary: {first_dir}={result['first_count']} {second_dir}={result['second_count']} "
            f"union={result['union']} equal={result['equal']} ({result['equal_percent']}%) "
            f"only-first={len(result['only_first'])} only-second={len(result['only_second'])} "
            f"version-differs={len(result['version_differs'])}"
        )
        print(
            f"name@version: {first_dir}={result['first_name_versions']} "
            f"{second_dir}={result['second_name_versions']} "
            f"shared={result['shared_name_versions']}"
        )
    same = not (result["only_first"] or result["only_second"] or result["version_differs"])
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
