"""Optional emulated network latency, only on the mirror's port of the loopback interface.

`tc qdisc ... netem` on `lo` would slow every loopback connection of the machine (other
people's test servers included), so the delay is confined to one port: a `prio` root qdisc
with a fourth band that no priority maps to, a `netem delay` under that band, and u32 filters
sending packets from or to the mirror's port into it. Half the round trip is added each way.
Needs root and `tc` (iproute2); `start` says what was used, or why nothing was.
"""

from __future__ import annotations

import shutil
import subprocess


class Delay:
    """A netem delay on one TCP port of `lo`, removed by `stop`."""

    def __init__(self, port: int, rtt_ms: float):
        self.port, self.rtt_ms = port, rtt_ms
        self.active = False

    def _tc(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["tc", *args], capture_output=True, text=True)

    def start(self) -> str:
        """Installs the delay; returns a description for the report."""
        if not shutil.which("tc"):
            return "none (tc missing: apt-get install -y iproute2)"
        one_way = f"{self.rtt_ms / 2:g}ms"
        steps = [
            ("qdisc", "add", "dev", "lo", "root", "handle", "1:", "prio", "bands", "4",
             "priomap", *["1"] * 16),
            ("qdisc", "add", "dev", "lo", "parent", "1:4", "handle", "40:", "netem", "delay", one_way),
            ("filter", "add", "dev", "lo", "parent", "1:", "protocol", "ip", "prio", "1", "u32",
             "match", "ip", "sport", str(self.port), "0xffff", "flowid", "1:4"),
            ("filter", "add", "dev", "lo", "parent", "1:", "protocol", "ip", "prio", "1", "u32",
             "match", "ip", "dport", str(self.port), "0xffff", "flowid", "1:4"),
        ]
        for step in steps:
            p = self._tc(*step)
            if p.returncode:
                # Only a root qdisc we installed ourselves is ever removed.
                self.stop()
                return f"none: `tc {' '.join(step[:6])} …` failed ({p.stderr.strip()})"
            self.active = True
        return f"tc netem delay {one_way} each way on 127.0.0.1:{self.port} (RTT {self.rtt_ms:g} ms)"

    def stop(self) -> None:
        """Removes the root qdisc installed by `start` (lo goes back to its default)."""
        if self.active:
            self._tc("qdisc", "del", "dev", "lo", "root")
            self.active = False
