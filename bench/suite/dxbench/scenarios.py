"""pnpm's install scenarios, as states to prepare before each timed run.

| key | cache / store | lockfile | node_modules | package.json |
|---|---|---|---|---|
| clean | empty | absent | absent | base |
| cold-lock | empty | base | absent | base |
| warm-lock | warm | base | absent | base |
| full-resolution | warm | absent | absent | base |
| resolve-only | warm | absent (only it is written) | absent | base |
| re-resolution | warm | base | base, in place | base + one dependency |
| no-op | warm | base | in place | base |

"base" lockfile: the one each tool wrote on its own first install of the fixture (saved as
`<lockfile>.base`). For dx (mount) "absent node_modules" means unmounted and removed; its
store is the cache.

The real-registry (network) scenarios, opt-in (`run.py --real-registry`), run the same states
against the configured registry instead of the mirror, with tools of their own (own projects,
caches and base lockfiles, written by a first install from that registry):

| key | as | what is timed |
|---|---|---|
| net-resolve-only | resolve-only | the lockfile-only resolution, metadata cache warm |
| net-cold-lock | cold-lock | the install, empty store/cache, base lockfile |
| net-add | base installed afresh into an empty node_modules, caches warm | adding one package (`dx add`, `bun add`, `pnpm add`, `npm install <pkg>`) |
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from .tools import Tool


@dataclass(frozen=True)
class Scenario:
    """One install scenario."""

    key: str
    title: str
    short: str
    state: str
    network: bool = False


SCENARIOS = (
    Scenario("clean", "clean install", "clean", "nothing cached: no store/cache, no lockfile, no node_modules"),
    Scenario("cold-lock", "cold, with lockfile (CI)", "cold+lock", "lockfile; empty store/cache; no node_modules"),
    Scenario("warm-lock", "warm, with lockfile", "warm+lock", "lockfile and warm store/cache; no node_modules"),
    Scenario("full-resolution", "full resolution", "full resolution", "warm store/cache; no lockfile, no node_modules"),
    Scenario("resolve-only", "resolution only (lockfile-only)", "lockfile only",
             "warm metadata cache; no lockfile, no node_modules; each tool only writes its lockfile (one dx row: both variants run the same command)"),
    Scenario("re-resolution", "re-resolution (+1 dependency)", "re-resolution",
             "lockfile, warm store and node_modules of the base; one dependency added to package.json"),
    Scenario("no-op", "no-op", "no-op", "everything in place"),
)
NET = "real registry (network)"
NETWORK_SCENARIOS = (
    Scenario("net-resolve-only", f"{NET}: resolution only, warm cache", "net: lockfile only",
             "warm metadata cache and store (of installs from the real registry); no lockfile, no node_modules; "
             "each tool only writes its lockfile (one dx row)", network=True),
    Scenario("net-cold-lock", f"{NET}: cold, with lockfile", "net: cold+lock",
             "lockfile; empty store/cache; no node_modules", network=True),
    Scenario("net-add", f"{NET}: add one package", "net: add",
             "lockfile, warm store/cache, the base installed afresh into an empty node_modules; the timed command "
             "adds one package (`dx add`, `bun add`, `pnpm add`, `npm install <pkg>`)", network=True),
)
ALL_SCENARIOS = SCENARIOS + NETWORK_SCENARIOS
BY_KEY = {s.key: s for s in ALL_SCENARIOS}


def _cp(src: Path, dst: Path) -> str:
    return f"cp {shlex.quote(str(src))} {shlex.quote(str(dst))}"


def manifest_base(tool: Tool) -> str:
    """Restores the base package.json."""
    return _cp(tool.project / "package.json.base", tool.project / "package.json")


def lock_base(tool: Tool) -> str:
    """Restores the base lockfile."""
    return _cp(tool.lock(".base"), tool.lock())


def lock_absent(tool: Tool) -> str:
    """Removes the lockfile."""
    return f"rm -f {shlex.quote(str(tool.lock()))}"


def base_state(tool: Tool) -> str:
    """Base package.json and lockfile, installed (quietly): the no-op state."""
    return "; ".join([manifest_base(tool), lock_base(tool), tool.install_cmd() + " >/dev/null 2>&1"])


# The network scenarios whose state is a mirror scenario's.
AS = {"net-resolve-only": "resolve-only", "net-cold-lock": "cold-lock"}


def prepare(scenario: str, tool: Tool) -> str:
    """The shell command that puts `tool`'s project into `scenario`'s state before a run."""
    parts = {
        "clean": [tool.reset_modules(), tool.clear_caches(), lock_absent(tool), manifest_base(tool)],
        "cold-lock": [tool.reset_modules(), tool.clear_caches(), lock_base(tool), manifest_base(tool)],
        "warm-lock": [tool.reset_modules(), lock_base(tool), manifest_base(tool)],
        "full-resolution": [tool.reset_modules(), lock_absent(tool), manifest_base(tool)],
        "resolve-only": [tool.reset_modules(), lock_absent(tool), manifest_base(tool)],
        # node_modules rebuilt from the base: Bun's install keeps a package the base lockfile
        # no longer has, so the package the run added would otherwise still be in place (and
        # Bun's re-resolution timed a near no-op: faster than its own no-op on app).
        "re-resolution": [tool.reset_modules(), base_state(tool),
                          _cp(tool.project / "package.json.added", tool.project / "package.json")],
        "no-op": [],
        "net-add": [tool.reset_modules(), base_state(tool)],
    }[AS.get(scenario, scenario)]
    # Every state ends flushed: the dirty pages of an earlier install (a base install, the
    # previous tool's run) are written back here, not during the next timed run (they had
    # landed in whichever tool was measured first).
    return "; ".join(parts + ["sync"])


def command(scenario: str, tool: Tool) -> str | None:
    """What is timed: the install, or the lockfile-only resolution (None: not applicable,
    as for dx --materialize, whose lockfile-only run is dx's)."""
    if scenario in ("resolve-only", "net-resolve-only"):
        return None if tool.key == "dxm" else tool.resolve
    if scenario == "net-add":
        return tool.add or None
    return tool.install


def setup(scenario: str, tool: Tool) -> str | None:
    """What runs once before a scenario's runs (the no-op needs everything in place once)."""
    return base_state(tool) if scenario == "no-op" else None
