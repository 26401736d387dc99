"""dx's benchmark suite: dx against Bun, pnpm and npm in the same run, from one local mirror.

Modules: `fixtures` (what is installed), `synthetic` (generated packages), `mirror` (snapshot
and serving), `tools` (how each package manager is driven), `scenarios` (pnpm's install
scenarios), `measure` (hyperfine and the single instrumented run), `runtime` (code running on
each tool's node_modules), `report` (markdown) and `svg` (charts). `run.py` beside this package
is the one entry point; `bench/README.md` documents it.
"""
