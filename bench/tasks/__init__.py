"""What a load-generator process can be asked to do: `load` drives traffic (the tokenrelay
producer, SSE readers), `probe` times single clients (connections, resume, replay, TTFT)."""

from __future__ import annotations

from bench.tasks import load, probe, soak

TASKS = {
    "produce": load.produce,
    "read": load.read,
    "connections": probe.connections,
    "resume": probe.resume,
    "replay": probe.replay,
    "ttft": probe.ttft,
    "soak": soak.soak,
}
