#!/bin/sh
# Regenerates crates/resolve/tests/cases/*.npm.json with the installed npm (v11) against dx's
# registry server on 127.0.0.1. Needs python3, npm and a built dx (DX=path to override;
# default target/release/dx). Usage: regenerate.sh [case-name...]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
workspace=$(cd "$here/../../../.." && pwd)
dx=${DX:-$workspace/target/release/dx}
if [ ! -x "$dx" ]; then
    (cd "$workspace" && cargo build --release -p dx-cli)
fi
exec python3 "$here/regenerate.py" --dx "$dx" "$@"
