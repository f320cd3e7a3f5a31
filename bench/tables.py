"""The results README's per-scenario sections: one markdown table (and its caption) each, from
the scenario's JSON; tokenrelay beside the others as absolute numbers and same-run ratios."""

from __future__ import annotations

from typing import Any


def ms(v: Any) -> str:
    if v is None:
        return "–"
    return f"{v:.2f}" if v < 10 else f"{v:.1f}" if v < 100 else f"{v:.0f}"


def ratio(a: Any, b: Any) -> str:
    return f"{a / b:.1f}×" if a is not None and b else "–"


def _cpu(cpu: dict[str, Any], *names: str) -> str:
    return " · ".join(f"{n} {cpu[n]['cpu_pct']:.0f}" for n in names if n in cpu)


def _short(r: dict[str, Any]) -> str:
    return str(r["error"]).replace("|", "/").replace("\n", " ")[:160]


def _flags(r: dict[str, Any]) -> str:
    flags = []
    if not r["complete"]:
        flags.append(f"only {r['completed']}/{r['readers']} readers reached the end")
    if r["gaps"]:
        flags.append(f"{r['gaps']} seq gaps")
    if r.get("producer_behind"):
        flags.append(f"producer behind schedule (p99 {ms(r['producer_lateness']['p99_ms'])} ms)")
    if r["loadgen_bottleneck"]:
        flags.append("load generator CPU-bound")
    if r.get("loadgen_lagging"):
        flags.append("load generator loop lag ≥ 20 ms")
    return "; ".join(flags)


def latency(title: str, what: str, data: dict[str, Any], key: str, plot: str) -> str:
    rows = ["| " + key + " | system | p50 ms | p99 ms | p99.9 ms | delivered/s (share) | "
            "p50 · p99 vs baseline | p50 · p99 vs peer | CPU % | notes |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    runs = data["runs"]
    for r in runs:
        n = r[key] if key == "responses" else r["readers"]
        if "error" in r:
            rows.append(f"| {n} | {r['system']} |" + " – |" * 7 + f" failed: {_short(r)} |")
            continue
        same = {x["system"]: x["latency"] for x in runs if "error" not in x
                and (x["responses"], x["readers"]) == (r["responses"], r["readers"])}
        lat = r["latency"]
        vs = {}
        for other in ("baseline", "peer"):
            o = same.get(other)
            vs[other] = "–" if r["system"] != "tokenrelay" or o is None else (
                f"{ratio(lat['p50_ms'], o['p50_ms'])} · {ratio(lat['p99_ms'], o['p99_ms'])}")
        cpu = _cpu(r["cpu"], "broker", "worker", "edge", "baseline", "redis", "peer-producer",
                   "peer-edge", "loadgen-produce", "loadgen-read0", "loadgen-read1")
        rows.append(
            f"| {n} | {r['system']} | {ms(lat['p50_ms'])} | {ms(lat['p99_ms'])} | "
            f"{ms(lat['p999_ms'])} | {r['delivered_events_s']:.0f} ({r['delivered_ratio']:.2f}) "
            f"| {vs['baseline']} | {vs['peer']} | {cpu} | {_flags(r)} |")
    return f"{title}\n\n{what}.\n\n" + "\n".join(rows) + f"\n\n![latency CDF]({plot})"


def throughput(data: dict[str, Any]) -> str:
    knee = data["knee"]
    if knee is None:
        head = "No step passed: even the first load exceeded the limit."
    else:
        more = " (never failed: the knee is higher than the last step tried)" \
            if data["exhausted"] else ""
        head = (f"**Knee: {knee['delivered_events_s']:.0f} delivered events/s** "
                f"({knee['responses']} responses × {data['rate']:g} tokens/s, p99 "
                f"{ms(knee['p99_ms'])} ms){more}. One token per delta event, so tokens/s is "
                "the same figure.")
    rows = ["| responses | offered/s | delivered/s | p50 ms | p99 ms | pass | CPU % broker · "
            "worker · edge · producer · readers | host busy % | notes |",
            "|---|---|---|---|---|---|---|---|---|"]
    for s in data["steps"]:
        if "error" in s:
            rows.append(f"| {s['responses']} |" + " – |" * 7 + f" failed: {_short(s)} |")
            continue
        cpu = s["cpu"]
        readers = sum(cpu[n]["cpu_pct"] for n in cpu if n.startswith("loadgen-read"))
        rows.append(
            f"| {s['responses']} | {s['offered_events_s']:.0f} | {s['delivered_events_s']:.0f} | "
            f"{ms(s['latency']['p50_ms'])} | {ms(s['latency']['p99_ms'])} | "
            f"{'yes' if s['pass'] else 'no'} | "
            + " · ".join(f"{cpu[n]['cpu_pct']:.0f}" if n in cpu else "–"
                         for n in ("broker", "worker", "edge", "loadgen-produce"))
            + f" · {readers:.0f} | {cpu.get('host', {}).get('busy_pct') or '–'} | {_flags(s)} |")
    return ("## 2. Throughput\n\ntokenrelay, responses at "
            f"{data['rate']:g} tokens/s stepped up until p99 ≥ {data['p99_limit_ms']:g} ms, "
            "fewer than 95 % of the window's events delivered in it, or a reader not reaching "
            f"its end.\n\n{head}\n\n" + "\n".join(rows) + "\n\n![throughput](throughput.png)")


def connections(d: dict[str, Any]) -> str:
    idle = d["idle_cpu"].get("edge", {}).get("cpu_pct")
    opening = d.get("open_cpu", {})
    busy = " · ".join(f"{n} {opening[n]['cpu_pct']:.0f} %" for n in ("edge", "loadgen")
                      if n in opening) or "–"
    if d.get("loadgen_bottleneck"):
        busy += " (load generator CPU-bound)"
    row = (f"| {d['opened']} of {d['requested']} | {d['open_s']} s ({d.get('opens_per_s')}/s) "
           f"| {d['still_open_at_release']} | {d['edge_rss_mb_before']} → "
           f"{d['edge_rss_mb_held']} MiB | {d['edge_rss_kb_per_connection']} KiB | {idle} % |")
    return ("## 3. Connections\n\n| idle SSE connections held by one edge | opened in | "
            "still open at release | edge RSS before → held | per connection | edge CPU while "
            "idle |\n|---|---|---|---|---|---|\n" + row + f"""

While opening, CPU was {busy}. Each of the 100 responses the readers follow gets one token \
every {d.get('keepalive_s', 5):g} s (the worker ends a response silent for 30 s); the edge \
sends heartbeats every {d['heartbeat_s']:g} s. Errors while opening: {d['errors'] or 'none'}.""")


def resume(d: dict[str, Any]) -> str:
    rec, rep = d["reconnect"], d["replay"]
    tr, peer = rec.get("tokenrelay", {}).get("ms", {}), rec.get("peer", {}).get("ms", {})
    rows = [
        "| | tokenrelay | peer | tokenrelay ÷ peer |", "|---|---|---|---|",
        f"| reconnect → first missed event, p50 | {ms(tr.get('p50_ms'))} ms | "
        f"{ms(peer.get('p50_ms'))} ms | {ratio(tr.get('p50_ms'), peer.get('p50_ms'))} |",
        f"| reconnect → first missed event, p99 | {ms(tr.get('p99_ms'))} ms | "
        f"{ms(peer.get('p99_ms'))} ms | {ratio(tr.get('p99_ms'), peer.get('p99_ms'))} |",
    ]
    best = {}
    for name in ("tokenrelay", "peer"):
        runs = [r["terminal_ms"] for r in rep.get(name, {}).get("runs", []) if r["terminal_ms"]]
        best[name] = sorted(runs)[len(runs) // 2] if runs else None
    rows.append(f"| replay {d['replay_events']} events from seq 0 to the end, median of "
                f"{len(rep.get('tokenrelay', {}).get('runs', []))} | {ms(best['tokenrelay'])} ms "
                f"| {ms(best['peer'])} ms | {ratio(best['tokenrelay'], best['peer'])} |")
    path = "Kafka (catch-up read)" if d["replay_events"] > d["edge_ring_events"] else \
        "the edge's in-memory ring"
    wrong = sum(r.get("wrong_first_seq", 0) for r in rec.values())
    return ("## 4. Resume\n\n" + "\n".join(rows) + f"""

A reader of a live {d['rate']:g} tokens/s stream reads {d['read_events']} events, drops \
the connection, stays away {d['gap_ms']} ms and reconnects with its cursor (tokenrelay: \
`Last-Event-ID`; peer: `skip` characters); {wrong} reconnects resumed at the wrong event. \
tokenrelay's replay of a finished {d['replay_events']}-event response is served from {path} \
(the edge keeps {d['edge_ring_events']} events per response in memory). The peer cannot \
replay a finished stream at all (resumable-stream answers "already done"); its figure is for \
a stream whose events are all out but which is still open, replayed from its producer's \
memory through Redis.""")


def ttft(d: dict[str, Any]) -> str:
    s = d["systems"]
    tr = s.get("tokenrelay", {}).get("overhead_ms", {})
    base = s.get("baseline", {}).get("overhead_ms", {})
    create = s.get("tokenrelay", {}).get("create_ms", {})
    return f"""## 5. Time to first token overhead

Request start to the first delta at the client, minus the model's configured first-token delay \
({d['first_token_ms']:g} ms); {tr.get('count', 0)} requests one at a time.

| | tokenrelay (POST, then GET events) | baseline (one GET) | tokenrelay ÷ baseline |
|---|---|---|---|
| p50 | {ms(tr.get('p50_ms'))} ms | {ms(base.get('p50_ms'))} ms | \
{ratio(tr.get('p50_ms'), base.get('p50_ms'))} |
| p99 | {ms(tr.get('p99_ms'))} ms | {ms(base.get('p99_ms'))} ms | \
{ratio(tr.get('p99_ms'), base.get('p99_ms'))} |

Of tokenrelay's figure, the POST itself (which waits for Kafka to store the `open`) took \
{ms(create.get('p50_ms'))} ms at p50."""


def profile(d: dict[str, Any]) -> str:
    if "skipped" in d:
        return f"## Profile\n\nSkipped: {d['skipped']}."
    parts = [f"""## Profile of the hot path

`{d['tool']}` at {d['rate_hz']} Hz for {d['seconds']:g} s on the worker and the edge while \
tokenrelay carried {d['responses']} responses × 30 tokens/s ({d['events_s']:.0f} events/s, \
p99 {ms(d['p99_ms'])} ms; py-spy's pauses slow the processes, so these numbers are not \
comparable with the tables above). libc `send`/`write` are socket writes (Kafka requests, SSE \
frames): on loopback the kernel's delivery to the receiving process is charged to that \
system call."""]
    for name, p in d["processes"].items():
        parts.append(f"### {name} ({p['samples']} samples, {p['waiting_pct']} % of them "
                     "waiting in epoll/futex: shares below are of the rest)\n\n"
                     "| self (leaf frame) | % | inclusive (own and library code) | % | "
                     "self by package | % |\n"
                     "|---|---|---|---|---|---|")
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
