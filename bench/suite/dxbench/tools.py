"""How each package manager is driven: its command, lockfile, and its own cache directories.

Every tool installs from the same mirror URL, with lifecycle scripts off, in its own project
directory, with caches that no other tool (and no other dx variant) shares. Commands are shell
strings because hyperfine runs them through a shell anyway; every path in them is quoted.

For the real-registry rows (`registry_in_env`) the registry is given to each tool in its
environment instead of `--registry`, so no command line, log line or report carries its URL.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

ALL_TOOLS = ("dx", "dxm", "bun", "pnpm", "npm")
LABELS = {"dx": "dx (mount)", "dxm": "dx --materialize", "bun": "bun", "pnpm": "pnpm", "npm": "npm"}
LOCKFILES = {"dx": "dx.lock", "dxm": "dx.lock", "bun": "bun.lock", "pnpm": "pnpm-lock.yaml",
             "npm": "package-lock.json"}


@dataclass
class Tool:
    """One package manager (or dx variant) set up for one fixture."""

    key: str
    label: str
    project: Path
    lockfile: str
    caches: list[Path]
    env: dict[str, str]
    install: str
    unmount: str = ""
    resolve: str = ""
    add: str = ""
    notes: list[str] = field(default_factory=list)

    def sh(self, command: str) -> str:
        """`command` run in the project directory."""
        return f"cd {shlex.quote(str(self.project))} && {command}"

    def install_cmd(self) -> str:
        """The install command, as timed."""
        return self.sh(self.install)

    def reset_modules(self) -> str:
        """Removes node_modules (unmounting dx's first)."""
        nm = shlex.quote(str(self.project / "node_modules"))
        if self.unmount:
            return self.sh(f"{self.unmount} >/dev/null 2>&1; rm -rf {nm}")
        return f"rm -rf {nm}"

    def clear_caches(self) -> str:
        """Empties every cache and store of this tool."""
        return "rm -rf " + " ".join(shlex.quote(str(c)) for c in self.caches)

    def lock(self, suffix: str = "") -> Path:
        """The lockfile, or its saved copy (`.base`)."""
        return self.project / (self.lockfile + suffix)


def version_of(tool: str, dx: Path) -> str:
    """The tool's version string, for the report."""
    argv = {"dx": [str(dx), "--version"], "dxm": [str(dx), "--version"], "bun": ["bun", "--version"],
            "pnpm": ["pnpm", "--version"], "npm": ["npm", "--version"], "node": ["node", "--version"],
            "hyperfine": ["hyperfine", "--version"], "nginx": ["nginx", "-v"]}[tool]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "missing"
    text = (out.stdout or out.stderr).strip().splitlines()
    line = text[-1] if text else "?"
    for prefix in ("nginx version: nginx/", "hyperfine ", "dx "):
        line = line.removeprefix(prefix)
    return line


def available(key: str) -> bool:
    """Whether the tool's executable is on PATH (dx is always built by the caller)."""
    return key in ("dx", "dxm") or shutil.which(key) is not None


def registry_env(registry: str) -> dict[str, str]:
    """The registry for every tool through its environment: dx reads `DX_REGISTRY`, Bun
    `BUN_CONFIG_REGISTRY`, pnpm and npm `npm_config_registry`."""
    return {"DX_REGISTRY": registry, "BUN_CONFIG_REGISTRY": registry, "npm_config_registry": registry}


def make_tool(key: str, fixture_work: Path, registry: str, dx: Path, npm_legacy_peer_deps: bool,
              added: tuple[str, str] | None = None, registry_in_env: bool = False) -> Tool:
    """The tool `key` for one fixture: project `fixture_work/key/project`, caches beside it.
    `added` (name, range) gives the tool its `add` command (`dx add`, `bun add`, `pnpm add`,
    `npm install <pkg>`); `registry_in_env` passes the registry in the environment, not on
    the command line."""
    base = fixture_work / key
    project = base / "project"
    q = shlex.quote
    env = {"npm_config_update_notifier": "false", "npm_config_fund": "false", "npm_config_audit": "false"}
    reg = ""
    if registry_in_env:
        env.update(registry_env(registry))
    else:
        reg = f"--registry {q(registry)} "
    spec = q(f"{added[0]}@{added[1]}") if added else ""
    if key in ("dx", "dxm"):
        home = base / "dx-home"
        mat = " --materialize" if key == "dxm" else ""
        flags = f"{reg}--ignore-scripts --quiet --no-progress"
        return Tool(key, LABELS[key], project, "dx.lock", [home], {**env, "DX_HOME": str(home)},
                    f"{q(str(dx))} install{mat} {flags}", unmount=f"{q(str(dx))} unmount" if key == "dx" else "",
                    resolve=f"{q(str(dx))} install --lockfile-only {flags}",
                    add=f"{q(str(dx))} add {spec}{mat} {flags}" if added else "")
    if key == "bun":
        cache = base / "bun-cache"
        flags = f"{reg}--ignore-scripts --silent"
        return Tool(key, LABELS[key], project, "bun.lock", [cache], {**env, "BUN_INSTALL_CACHE_DIR": str(cache)},
                    f"bun install {flags}", resolve=f"bun install --lockfile-only {flags}",
                    add=f"bun add {spec} {flags}" if added else "")
    if key == "pnpm":
        store, cache, state = base / "pnpm-store", base / "pnpm-cache", base / "pnpm-state"
        env.update({"pnpm_config_cache_dir": str(cache), "pnpm_config_state_dir": str(state)})
        flags = f"{reg}--ignore-scripts --store-dir {q(str(store))} --reporter silent"
        return Tool(key, LABELS[key], project, "pnpm-lock.yaml", [store, cache, state], env,
                    f"pnpm install {flags}", resolve=f"pnpm install --lockfile-only {flags}",
                    add=f"pnpm add {spec} {flags}" if added else "")
    if key == "npm":
        cache = base / "npm-cache"
        legacy = " --legacy-peer-deps" if npm_legacy_peer_deps else ""
        flags = f"{reg}--ignore-scripts --no-audit --no-fund --loglevel error{legacy}"
        tool = Tool(key, LABELS[key], project, "package-lock.json", [cache], {**env, "npm_config_cache": str(cache)},
                    f"npm install {flags}", resolve=f"npm install --package-lock-only {flags}",
                    add=f"npm install {spec} {flags}" if added else "")
        if npm_legacy_peer_deps:
            tool.notes.append("npm runs with --legacy-peer-deps here (it refuses this fixture's peer conflict otherwise)")
        return tool
    raise ValueError(f"unknown tool {key}")


def tool_env(tool: Tool) -> dict[str, str]:
    """The process environment for a tool: ours, minus CI (which makes dx and pnpm frozen)."""
    env = {k: v for k, v in os.environ.items() if k != "CI" and not k.startswith(("npm_config_", "NPM_CONFIG_"))}
    env.pop("DX_REGISTRY", None)
    env.update(tool.env)
    return env
