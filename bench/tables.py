"""The results README's per-scenario sections: one markdown table (and its caption) each, from
the scenario's JSON; tokenrelay beside the others as absolute numbers and same-run ratios, and
beside today's figures (bench/before.py)."""

from __future__ import annotations

from typing import Any

from bench import before

SYSTEM_ORDER = ("tokenrelay", "tokenrelay-sdk", "baseline", "peer")
LABEL = {
    "tokenrelay": "tokenrelay (POST, demo model)",
    "tokenrelay-sdk": "tokenrelay (SDK)",
    "baseline": "baseline",
    "peer": "peer",
}
BEFORE = f"before ({before.DATE}, SDK)"
FIRST_LATE_MS = 100.0  # a stream's first token written this long after it was due is flagged
PROCESS_ORDER = (
    "broker",
    "worker",
    "edge",
    "loadgen-produce",
    "baseline",
    "redis",
    "peer-producer",
    "peer-edge",
)


def ms(v: Any) -> str:
    if v is None:
        return "–"
    return f"{v:.2f}" if v < 10 else f"{v:.1f}" if v < 100 else f"{v:.0f}"


def us(v: Any) -> str:
    if v is None:
        return "–"
    return f"{v:.1f}" if v < 100 else f"{v:,.0f}"


def ratio(a: Any, b: Any) -> str:
    return f"{a / b:.1f}×" if a is not None and b else "–"


def pct(v: Any) -> str:
    return "–" if v is None else f"{100 * v:.1f} %"


def ok(r: dict[str, Any]) -> bool:
    return "error" not in r


def _short(r: dict[str, Any]) -> str:
    return str(r["error"]).replace("|", "/").replace("\n", " ")[:160]


def _flags(r: dict[str, Any]) -> str:
    flags = []
    if not r["complete"]:
        flags.append(f"only {r['completed']}/{r['readers']} readers reached the end")
    if r["gaps"]:
        flags.append(f"{r['gaps']} seq gaps")
    if r.get("mismatched"):
        flags.append(f"{r['mismatched']} deltas with unexpected text")
    if r.get("producer_behind"):
        flags.append(
            f"tokens written behind schedule (p99 {ms(r['producer_lateness']['p99_ms'])} ms)"
        )
    first = r.get("first_token_late") or {}
    if (first.get("p99_ms") or 0) > FIRST_LATE_MS:
        flags.append(
            f"first tokens written late (p50 {ms(first['p50_ms'])} / p99 "
            f"{ms(first['p99_ms'])} ms after due)"
        )
    if r["loadgen_bottleneck"]:
        flags.append("load generator CPU-bound")
    if r.get("loadgen_lagging"):
        flags.append("load generator loop lag ≥ 20 ms")
    if r.get("readers_late"):
        flags.append("readers connected after the start")
    if r["errors"]:
        flags.append(f"errors {r['errors']}")
    return "; ".join(flags)


def by_size(runs: list[dict[str, Any]], key: str) -> dict[int, dict[str, dict[str, Any]]]:
    """{size: {system: run}} for the runs of a latency or fan-out scenario."""
    out: dict[int, dict[str, dict[str, Any]]] = {}
    for r in runs:
        out.setdefault(r[key], {})[r["system"]] = r
    return out


def cpu_names(cpu: dict[str, Any]) -> list[str]:
    named = [n for n in PROCESS_ORDER if n in cpu]
    return named + sorted(n for n in cpu if n.startswith("loadgen-read"))


def latency(
    title: str, what: str, data: dict[str, Any], key: str, plot: str, befores: dict[int, str]
) -> str:
    rows = [
        f"| {key} | system | readers finished | tokens delivered (all) | in window: tokens/s "
        "(share) | tokens per delta | p50 ms | p99 ms | p99.9 ms | p99 vs baseline · peer | "
        "server CPU µs/token | notes |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for size, systems in sorted(by_size(data["runs"], key).items()):
        base = systems.get("baseline")
        peer = systems.get("peer")
        for name in SYSTEM_ORDER:
            r = systems.get(name)
            if r is None:
                continue
            if not ok(r):
                rows.append(f"| {size} | {LABEL[name]} |" + " – |" * 9 + f" failed: {_short(r)} |")
                continue
            lat = r["latency"]
            vs = "–"
            if name.startswith("tokenrelay"):
                vs = " · ".join(
                    ratio(lat["p99_ms"], o["latency"]["p99_ms"]) if o and ok(o) else "–"
                    for o in (base, peer)
                )
            rows.append(
                f"| {size} | {LABEL[name]} | {r['completed']}/{r['readers']} | "
                f"{r['tokens']}/{r['tokens_expected']} ({pct(r['tokens_ratio'])}) | "
                f"{r['delivered_tokens_s']:.0f} ({pct(r['delivered_ratio'])}) | "
                f"{r['tokens_per_delta'] or '–'} | {ms(lat['p50_ms'])} | {ms(lat['p99_ms'])} | "
                f"{ms(lat['p999_ms'])} | {vs} | {us(r['cpu_us_per_token_server'])} | "
                f"{_flags(r)} |"
            )
        if size in befores:
            rows.append(f"| {size} | {BEFORE} |" + " |" * 9 + f" {befores[size]} |")
    return f"{title}\n\n{what}\n\n" + "\n".join(rows) + f"\n\n![latency CDF]({plot})"


def cpu_per_token(data: dict[str, Any], key: str) -> str:
    """CPU microseconds per delivered token, every process, and the sum over each system's
    server side, with tokenrelay's sum against the peer's in the same run."""
    rows = [
        f"| {key} | system | µs per delivered token, by process | server-side sum | "
        "readers | sum ÷ peer's |",
        "|---|---|---|---|---|---|",
    ]
    for size, systems in sorted(by_size(data["runs"], key).items()):
        peer = systems.get("peer")
        peer_sum = peer.get("cpu_us_per_token_server") if peer and ok(peer) else None
        for name in SYSTEM_ORDER:
            r = systems.get(name)
            if r is None or not ok(r):
                continue
            per = r["cpu_us_per_token"]
            server = " · ".join(
                f"{n} {us(per[n])}" for n in cpu_names(per) if n in r["server_side"]
            )
            readers = sum(v for n, v in per.items() if n.startswith("loadgen-read"))
            vs = (
                ratio(r["cpu_us_per_token_server"], peer_sum)
                if name.startswith("tokenrelay")
                else "–"
            )
            rows.append(
                f"| {size} | {LABEL[name]} | {server or '–'} | "
                f"{us(r['cpu_us_per_token_server'])} | {us(readers)} | {vs} |"
            )
    return (
        "### CPU per delivered token\n\nCPU time (user + system, psutil) of each process "
        "over the recorded window, divided by the tokens delivered to readers in it. The "
        "server side is what serves readers: tokenrelay broker + worker + edge (+ the SDK "
        "producer on the SDK path), the peer Redis + producer + edge, the baseline its one "
        f"process. Before ({before.DATE}): {before.KNEE_CPU_US_TEXT} per token at the knee; "
        f"the peer ~{before.PEER_CPU_US_500:g} µs at 500 × 30.\n\n" + "\n".join(rows)
    )


def throughput(data: dict[str, Any]) -> str:
    knee = data["knee"]
    if knee is None:
        head = "No step passed: even the first load exceeded the limit."
    else:
        more = (
            (
                " (never failed: the knee is at or above the highest step tried, "
                f"{data['max_tokens_s']:,.0f} tokens/s)"
            )
            if data["exhausted"]
            else ""
        )
        per = knee["cpu_us_per_token"]
        costs = " · ".join(f"{n} {us(per[n])}" for n in cpu_names(per))
        head = (
            f"**Knee: {knee['delivered_tokens_s']:,.0f} delivered tokens/s** "
            f"({knee['responses']} responses × {data['rate']:g} tokens/s, p99 "
            f"{ms(knee['p99_ms'])} ms, {knee['tokens_per_delta'] or '–'} tokens per delta)"
            f"{more}; before ({before.DATE}): {before.KNEE_TOKENS_S:,.0f} tokens/s.\n\n"
            f"CPU µs per delivered token at the knee: {costs}; server side "
            f"{us(knee['cpu_us_per_token_server'])} (before: {before.KNEE_CPU_US_TEXT})."
            + _persist(knee.get("persist"))
        )
    rows = [
        "| responses | offered tokens/s | delivered tokens/s | tokens per delta | p50 ms | "
        "p99 ms | pass | CPU µs/token broker · worker · edge · producer · readers | "
        "server sum | host busy % | notes |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in data["steps"]:
        if not ok(s):
            rows.append(f"| {s['responses']} |" + " – |" * 9 + f" failed: {_short(s)} |")
            continue
        per = s["cpu_us_per_token"]
        readers = sum(v for n, v in per.items() if n.startswith("loadgen-read"))
        rows.append(
            f"| {s['responses']} | {s['offered_tokens_s']:,.0f} | "
            f"{s['delivered_tokens_s']:,.0f} | {s['tokens_per_delta'] or '–'} | "
            f"{ms(s['latency']['p50_ms'])} | {ms(s['latency']['p99_ms'])} | "
            f"{'yes' if s['pass'] else 'no'} | "
            + " · ".join(us(per.get(n)) for n in ("broker", "worker", "edge", "loadgen-produce"))
            + f" · {us(readers)} | {us(s['cpu_us_per_token_server'])} | "
            f"{s['cpu'].get('host', {}).get('busy_pct') or '–'} | {_flags(s)} |"
        )
    path = LABEL.get(data.get("system", "tokenrelay"), "tokenrelay")
    return (
        f"## 2. Throughput\n\n{path}, responses at {data['rate']:g} tokens/s (one reader "
        "each) doubled until p99 ≥ "
        f"{data['p99_limit_ms']:g} ms, fewer than 95 % of the window's tokens delivered in "
        "it, or a reader not reaching its end (at most "
        f"{data['max_tokens_s']:,.0f} tokens/s offered), then bisected.\n\n{head}\n\n"
        + "\n".join(rows)
        + "\n\n![throughput](throughput.png)"
    )


def _persist(p: dict[str, Any] | None) -> str:
    if not p:
        return ""
    lag = p["lag_ms"]
    return (
        f"\n\nThe persist agent at the knee: {p['stored']} of {p['expected']} responses stored "
        f"within {p['waited_s']:g} s of the run's end; terminal event to stored p50 "
        f"{ms(lag['p50'])} / p95 {ms(lag['p95'])} / max {ms(lag['max'])} ms."
    )


def connections(d: dict[str, Any]) -> str:
    idle = d["idle_cpu"].get("edge", {}).get("cpu_pct")
    opening = d.get("open_cpu", {})
    busy = (
        " · ".join(
            f"{n} {opening[n]['cpu_pct']:.0f} %" for n in ("edge", "loadgen") if n in opening
        )
        or "–"
    )
    if d.get("loadgen_bottleneck"):
        busy += " (load generator CPU-bound)"
    row = (
        f"| {d['opened']} of {d['requested']} | {d['open_s']} s ({d.get('opens_per_s')}/s) "
        f"| {d['still_open_at_release']} | {d['edge_rss_mb_before']} → "
        f"{d['edge_rss_mb_held']} MiB | {d['edge_rss_kb_per_connection']} KiB | "
        f"{before.IDLE_CONNECTION_KIB} KiB (of 10000) | {idle} % |"
    )
    return (
        "## 3. Connections\n\n| idle SSE connections held by one edge | opened in | "
        "still open at release | edge RSS before → held | per connection | "
        f"before ({before.DATE}) | edge CPU while idle |\n|---|---|---|---|---|---|---|\n"
        + row
        + f"""

While opening, CPU was {busy}. Each of the 100 responses the readers follow gets one token \
every {d.get("keepalive_s", 5):g} s from an SDK writer (the watchdog ends a response silent for \
30 s); the edge sends heartbeats every {d["heartbeat_s"]:g} s. Errors while opening: \
{d["errors"] or "none"}."""
    )


def replay_median(rep: dict[str, Any], name: str) -> float | None:
    runs = [r["terminal_ms"] for r in rep.get(name, {}).get("runs", []) if r["terminal_ms"]]
    return sorted(runs)[len(runs) // 2] if runs else None


def resume(d: dict[str, Any]) -> str:
    rec, rep = d["reconnect"], d["replay"]
    tr, peer = rec.get("tokenrelay", {}).get("ms", {}), rec.get("peer", {}).get("ms", {})
    rows = [
        f"| | tokenrelay | peer | tokenrelay ÷ peer | before ({before.DATE}) |",
        "|---|---|---|---|---|",
        f"| reconnect → first missed event, p50 | {ms(tr.get('p50_ms'))} ms | "
        f"{ms(peer.get('p50_ms'))} ms | {ratio(tr.get('p50_ms'), peer.get('p50_ms'))} | "
        f"{before.RECONNECT_P50_MS:g} ms |",
        f"| reconnect → first missed event, p99 | {ms(tr.get('p99_ms'))} ms | "
        f"{ms(peer.get('p99_ms'))} ms | {ratio(tr.get('p99_ms'), peer.get('p99_ms'))} | "
        f"{before.RECONNECT_P99_MS:g} ms |",
    ]
    best = {name: replay_median(rep, name) for name in ("tokenrelay", "peer")}
    rows.append(
        f"| replay {d['replay_events']} events from seq 0 to the end, median of "
        f"{len(rep.get('tokenrelay', {}).get('runs', []))} | {ms(best['tokenrelay'])} ms "
        f"| {ms(best['peer'])} ms | {ratio(best['tokenrelay'], best['peer'])} | "
        f"{before.REPLAY_10000_MS:g} ms (10000 events) |"
    )
    if "replay_stored" in d:
        stored = replay_median({"s": d["replay_stored"]}, "s")
        rows.append(
            f"| the same replay from the database (an edge whose Kafka never had it), median | "
            f"{ms(stored)} ms | – | – | target ≤ 200 ms (10000 events) |"
        )
    path = (
        "Kafka (catch-up read)"
        if d["replay_events"] > d["edge_ring_events"]
        else "the edge's in-memory ring"
    )
    wrong = sum(r.get("wrong_first_seq", 0) for r in rec.values())
    return (
        "## 4. Resume\n\n"
        + "\n".join(rows)
        + f"""

A reader of a live {d["rate"]:g} tokens/s stream (SDK writer) reads {d["read_events"]} events, \
drops the connection, stays away {d["gap_ms"]} ms and reconnects with its cursor (tokenrelay: \
`Last-Event-ID`; peer: `skip` characters); {wrong} reconnects resumed at the wrong event. \
tokenrelay's replay is of a finished response of {d["replay_events"]} events (one token each: \
its SDK writer waited for each to be stored, so nothing was coalesced), served from {path} \
(the edge keeps {d["edge_ring_events"]} events per response in memory). The peer cannot \
replay a finished stream at all (resumable-stream answers "already done"); its figure is for \
a stream whose events are all out but which is still open, replayed from its producer's \
memory through Redis."""
    )


def ttft(d: dict[str, Any]) -> str:
    s = d["systems"]
    tr = s.get("tokenrelay", {}).get("overhead_ms", {})
    base = s.get("baseline", {}).get("overhead_ms", {})
    create = s.get("tokenrelay", {}).get("create_ms", {})
    return f"""## 5. Time to first token overhead

Request start to the first delta at the client, minus the model's configured first-token delay \
({d["first_token_ms"]:g} ms); {tr.get("count", 0)} requests one at a time.

| | tokenrelay (POST, then GET events) | baseline (one GET) | tokenrelay ÷ baseline | \
before ({before.DATE}) |
|---|---|---|---|---|
| p50 | {ms(tr.get("p50_ms"))} ms | {ms(base.get("p50_ms"))} ms | \
{ratio(tr.get("p50_ms"), base.get("p50_ms"))} | {before.TTFT_P50_MS:g} ms |
| p99 | {ms(tr.get("p99_ms"))} ms | {ms(base.get("p99_ms"))} ms | \
{ratio(tr.get("p99_ms"), base.get("p99_ms"))} | {before.TTFT_P99_MS:g} ms |

Of tokenrelay's figure, the POST itself (which waits for Kafka to store the `open`) took \
{ms(create.get("p50_ms"))} ms at p50."""


def profile(d: dict[str, Any]) -> str:
    if "skipped" in d:
        return f"## Profile\n\nSkipped: {d['skipped']}."
    parts = [
        f"""## Profile of the hot path

`{d["tool"]}` at {d["rate_hz"]} Hz for {d["seconds"]:g} s on the worker and the edge while \
tokenrelay carried {d["responses"]} responses × 30 tokens/s through POST and the demo model \
({d["tokens_s"]:.0f} tokens/s, p99 {ms(d["p99_ms"])} ms; py-spy's pauses slow the processes, \
so these numbers are not comparable with the tables above). libc `send`/`write` are socket \
writes (Kafka requests, SSE frames): on loopback the kernel's delivery to the receiving \
process is charged to that system call."""
    ]
    for name, p in d["processes"].items():
        parts.append(
            f"### {name} ({p['samples']} samples, {p['waiting_pct']} % of them "
            "waiting in epoll/futex: shares below are of the rest)\n\n"
            "| self (leaf frame) | % | inclusive (own and library code) | % | "
            "self by package | % |\n"
            "|---|---|---|---|---|---|"
        )
        rows = max(len(p["self"]), len(p["inclusive"]), len(p["by_package"]))
        lines = []
        for i in range(min(rows, 10)):
            cells = []
            for col in ("self", "inclusive", "by_package"):
                item = p[col][i] if i < len(p[col]) else None
                cells += [f"`{item['frame'][:90]}`", f"{item['pct']}"] if item else ["", ""]
            lines.append("| " + " | ".join(cells) + " |")
        parts[-1] += "\n" + "\n".join(lines)
    if d.get("errors"):
        parts.append(f"py-spy errors: {d['errors']}")
    return "\n\n".join(parts)


def views(d: dict[str, Any]) -> str:
    runs = d["runs"]
    raw = next((r for r in runs if r.get("variant") == "raw" and ok(r)), None)
    raw_p99 = raw["latency"]["p99_ms"] if raw else None
    rows = []
    for r in runs:
        if not ok(r):
            rows.append(f"| {r['variant']} | failed: {_short(r)} | | | | | |")
            continue
        lat, p99 = r["latency"], r["latency"]["p99_ms"]
        added = f"{p99 - raw_p99:+.1f} ms" if r["variant"].startswith("view") and raw_p99 else ""
        worker = r["cpu_us_per_token"].get("worker")
        rows.append(
            f"| {r['variant']} | {ms(lat['p50_ms'])} | {ms(p99)} | {added} | "
            f"{pct(r['tokens_ratio'])} | {r['completed']}/{r['readers']} | {us(worker)} |"
            + (f" {_view_flags(r)}" if _view_flags(r) else "")
        )
    costs = " · ".join(f"`{name}` {us(v)}" for name, v in d["transforms"].items())
    return f"""## 6. Views

{d["responses"]} responses at {d["rate"]:g} tokens/s, each asking for two views (except the \
first run): {" + ".join(f"`{v}`" for v in d["views"]["text"])}, or \
{" + ".join(f"`{v}`" for v in d["views"]["moderated"])} for the moderated run (a moderated \
response is served only through its moderated view); one reader each, on the raw stream or on \
one view. A view event's latency is its arrival minus its raw event's `ts`: the \
views agent's hop, without the moderation hold-back (which waits for text, not for the system). \
Target (issue 9): a view adds ≤ 5 ms p99 over the raw stream.

| readers on | p50 ms | p99 ms | added p99 over raw | tokens delivered | complete | \
worker CPU µs/token |
|---|---|---|---|---|---|---|
{chr(10).join(rows)}

CPU µs per raw token of each transform alone (in-process, the demo answer one token per raw \
event): {costs}."""


def _view_flags(r: dict[str, Any]) -> str:
    """_flags without the schedule's: a view event's `ts` is its raw event's, and a sentence
    completes well after its first token was due, by design."""
    flags = [] if r["complete"] else [f"only {r['completed']}/{r['readers']} reached the end"]
    for key, what in (("gaps", "seq gaps"), ("mismatched", "events with unexpected text")):
        if r.get(key):
            flags.append(f"{r[key]} {what}")
    if r["loadgen_bottleneck"] or r.get("loadgen_lagging"):
        flags.append("load generator CPU-bound or lagging")
    if r["errors"]:
        flags.append(f"errors {r['errors']}")
    return "; ".join(flags)
