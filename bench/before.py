"""Today's figures, the "before" of issue 8: the full `make bench` run of 2026-11-24 (SDK path,
bench/results/README.md at commit b20d638) and the issue's own try of the POST path. The results
page prints them beside each new figure; they live here only, so a re-run never changes them."""

from __future__ import annotations

from typing import Any

DATE = "2026-11-24"
WHERE = f"full run of {DATE} (SDK path), as quoted in issue 8"

# Added latency, N responses x 30 tokens/s, one reader each (SDK path).
LATENCY: dict[int, dict[str, Any]] = {
    10: {"p50_ms": 2.79, "p99_ms": 10.8, "completed": 10, "text": "p50 2.79 / p99 10.8 ms"},
    100: {"p50_ms": 6821.0, "p99_ms": 8406.0, "completed": 0, "text": "p50 6.8 s, 0/100 finished"},
    500: {"p50_ms": None, "p99_ms": None, "completed": 0, "text": "0 delivered, 0/500 finished"},
}
# The try of the product's own path (POST /v1/responses, demo model), not `make bench`.
POST_10 = {"p50_ms": 4200.0, "p99_ms": 6300.0, "text": "p50 4.2 s / p99 6.3 s (issue's try)"}
KNEE_TOKENS_S = 1440.0  # at p99 < 100 ms (48 responses x 30 tokens/s)
# CPU per token across the stack at the knee, µs (issue 8: ~1 ms in all).
KNEE_CPU_US: dict[str, float] = {"worker": 535.0, "broker": 265.0, "edge": 265.0}
KNEE_CPU_US_TEXT = "~1,000 µs (worker ~535, broker ~265, edge ~265)"
FANOUT_1000 = {"p50_ms": 266.0, "p99_ms": 844.0, "text": "p50 266 / p99 844 ms"}
REPLAY_10000_MS = 461.0
RECONNECT_P50_MS, RECONNECT_P99_MS = 1.34, 2.99  # reconnect to the first missed event
TTFT_P50_MS, TTFT_P99_MS = 11.4, 14.1
IDLE_CONNECTION_KIB = 42.5  # each, 10,000 idle SSE connections on one edge
PEER_CPU_US_500 = 45.0  # the peer at 500 x 30: Redis, producer and edge together (issue 8)

# What issue 8 asks for, beside them.
TARGETS = {
    "p99_500_ms": 50.0,
    "p99_10_ms": 5.0,
    "knee_tokens_s": 15_000.0,
    "replay_ms": 100.0,
    "ttft_p50_ms": 3.0,
    "idle_kib": 16.0,
    "vs_peer": 3.0,  # p99 and CPU per token at 500 x 30, tokenrelay / peer
}
