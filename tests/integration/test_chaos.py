"""Chaos on the one-machine cluster `make cluster` runs (app/cluster.py: 3 brokers, replication 3,
min.insync.replicas 2; 2 workers; 2 edges behind nginx): 50 demo responses keep streaming through
nginx to EventSource-style readers (chaosload.py) while, one at a time, a broker, a worker and an
edge are SIGKILLed and restarted, and a broker is paused (SIGSTOP) for 10 s. Then a full restart
(stop, start) of a single-node broker under load. Every reader gets seq 1..N exactly once and
exactly one terminal event; no stream hangs; the events topic, folded by the readers' rule, is what
every reader got. The numbers (docs/cluster.md) go to <tmp>/chaos.md, and to bench/results/chaos.md
when TOKENRELAY_CHAOS_RESULTS is set (run the whole file).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from app.cluster import Cluster, Layout, cluster_settings
from app.settings import Settings
from tests.conftest import BROKER_START_TIMEOUT_S, BROKER_STOP_TIMEOUT_S, running_broker

from .chaoscheck import check_log, check_readers, full_isr
from .chaosload import Load, all_resumed
from .chaosreport import Phase, counts, table
from .conftest import make_settings
from .procs import REPO, Stack, free_port, up

pytestmark = pytest.mark.integration

SLOTS = 50
# ~15 s per response: each outlives a fault, and a slot's next response starts mid-phase.
DEMO = {"model": "demo", "input": "Explain replication.", "params": {"tokens": 150, "rate": 10}}
# The watchdog ends a dead worker's responses after this (the default), far above the paused
# broker's 10 s stall.
IDLE_TIMEOUT_S = Settings().response_idle_timeout_s
RESUME_S = 60.0  # every reader's next event after a fault (the worker kill's: the watchdog's)
DRAIN_S = 90.0


T0 = time.monotonic()


def say(what: str) -> None:
    """Progress, shown with a failure's captured output (or live with -s)."""
    print(f"{time.monotonic() - T0:7.1f} s  {what}", flush=True)


def free_ports(n: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < n:
        if (p := free_port()) not in ports:
            ports.append(p)
    return ports


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    sections: list[str] = []
    yield sections
    if not sections:
        return
    text = "# Chaos run\n\n" + "\n\n".join(sections) + "\n"
    out = tmp_path_factory.mktemp("chaos") / "chaos.md"
    out.write_text(text)
    print(f"\nchaos results in {out}")
    if os.environ.get("TOKENRELAY_CHAOS_RESULTS"):
        (REPO / "bench" / "results" / "chaos.md").write_text(text)


def client_for(url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=url,
        timeout=httpx.Timeout(30.0, connect=5.0),
        limits=httpx.Limits(max_connections=2 * SLOTS + 10),
    )


# Three JVMs, two workers and two edges on two cores: ~3 min on a quiet machine, far more on a
# busy one; bounded, but not by the suite's default 300 s.
@pytest.mark.timeout(600)
async def test_chaos_on_a_three_broker_cluster(tmp_path: Path, results: list[str]) -> None:
    p = free_ports(9)
    layout = Layout(
        tmp_path / "cluster",
        brokers=((p[0], p[1]), (p[2], p[3]), (p[4], p[5])),
        edges=(p[6], p[7]),
        worker_metrics=(0, 0),
        nginx=p[8],
    )
    base = dataclasses.replace(
        make_settings(layout.bootstrap, tmp_path),
        partitions=6,
        response_idle_timeout_s=IDLE_TIMEOUT_S,
        edge_unknown_wait_ms=3000,
    )
    settings = cluster_settings(base, layout, {})
    assert settings.replication == 3 and settings.worker_session_timeout_s <= 3
    cluster = Cluster(settings, layout)
    paused: list[int] = []
    load: Load | None = None
    try:
        started = time.monotonic()
        await start(cluster)
        took = time.monotonic() - started
        async with client_for(layout.url) as client:
            load = Load(client, SLOTS, DEMO)
            load.start()
            phases = await faults(cluster, settings, load, paused)
            say("draining")
            await load.stop(DRAIN_S)
            say("drained; checking")
        readers = load.readers
        lossy = [p for p in phases if p.loses_writers]
        ends = check_readers(readers, may_lose_writer=lambda r: any(p.affected(r) for p in lossy))
        say(f"ends: {dict(ends)}")
        # The edge fault met streams in progress (or it proves nothing): its readers reconnected.
        edge_phase = phases[3]
        assert any(edge_phase.fault <= c < edge_phase.end for r in readers for c in r.reconnects)
        duplicates = await check_log(settings, readers)
    except BaseException:
        print(report(cluster))
        raise
    finally:
        if load is not None:
            load.cancel()
        for pid in paused:
            os.kill(pid, signal.SIGCONT)
        await asyncio.to_thread(cluster.stop)
    results.append(
        f"## 3 brokers, 2 workers, 2 edges behind nginx ({SLOTS} responses streaming)\n\n"
        f"Demo responses of {DEMO['params']['tokens']} tokens at {DEMO['params']['rate']}/s, "
        f"read through nginx; worker session {settings.worker_session_timeout_s:.0f} s, response "
        f"idle timeout {IDLE_TIMEOUT_S:.0f} s, brokers fenced after 4 s; cluster start "
        f"{took:.0f} s; 1-minute load average at the end {os.getloadavg()[0]:.0f} "
        f"(2 cores).\n\n{table(phases, readers)}\n\n"
        + counts(readers, load.create_retries, duplicates)
    )


async def start(cluster: Cluster) -> None:
    say("starting 3 brokers")
    await asyncio.to_thread(cluster.start_brokers)
    say("brokers ready; starting 2 workers and 2 edges")
    for i in range(2):
        cluster.start_worker(i)
        cluster.start_edge(i)
    waits = [cluster.wait_worker, cluster.wait_edge]
    await asyncio.gather(*(asyncio.to_thread(w, i) for w in waits for i in range(2)))
    cluster.start_nginx()
    await asyncio.to_thread(cluster.wait_nginx)
    say("nginx ready")


async def faults(
    cluster: Cluster, settings: Settings, load: Load, paused: list[int]
) -> list[Phase]:
    """The phases, one fault at a time."""
    phases: list[Phase] = []
    await asyncio.sleep(6)  # every slot streaming
    steady = Phase("steady, no fault")
    phases.append(steady)
    await asyncio.sleep(8)
    steady.end = time.monotonic()

    async def phase(name: str, inject: Callable[[Phase], Awaitable[None]], lossy: bool) -> None:
        p = Phase(name, loses_writers=lossy)
        phases.append(p)
        await asyncio.sleep(2)
        p.fault = time.monotonic()
        say(f"{name} at {p.fault:.1f}: {len(load.readers)} responses so far")
        await inject(p)
        say(f"{name}: {'; '.join(p.notes)}")
        await all_resumed(load.readers, p.fault, RESUME_S - (time.monotonic() - p.fault))
        say(f"{name}: every reader has moved on")
        await asyncio.sleep(2)
        p.end = time.monotonic()

    async def broker_kill(p: Phase) -> None:
        pid = cluster.broker_pid(0)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        await asyncio.sleep(5)  # down a while, as a crashed machine is
        await restarted(p, asyncio.to_thread(cluster.start_brokers, [0]))
        await restarted(p, full_isr(settings), "every partition back to 3 in-sync replicas")

    async def worker_kill(p: Phase) -> None:
        worker = cluster.workers[0]
        assert worker is not None
        worker.kill()
        await asyncio.sleep(1)
        cluster.start_worker(0)
        await restarted(p, asyncio.to_thread(cluster.wait_worker, 0))

    async def edge_kill(p: Phase) -> None:
        edge = cluster.edges[0]
        assert edge is not None
        edge.kill()
        await asyncio.sleep(1)
        cluster.start_edge(0)
        await restarted(p, asyncio.to_thread(cluster.wait_edge, 0))

    async def broker_pause(p: Phase) -> None:
        pid = cluster.broker_pid(2)
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)
        paused.append(pid)
        await asyncio.sleep(10)
        os.kill(pid, signal.SIGCONT)
        paused.remove(pid)
        await restarted(p, full_isr(settings), "every partition back to 3 in-sync replicas")

    await phase("broker 1 SIGKILL, restarted 5 s later", broker_kill, lossy=True)
    await phase("worker 1 SIGKILL, restarted 1 s later", worker_kill, lossy=True)
    await phase("edge 1 SIGKILL, restarted 1 s later", edge_kill, lossy=False)
    await phase("broker 3 SIGSTOP for 10 s, then SIGCONT", broker_pause, lossy=True)
    return phases


async def restarted(p: Phase, done: Awaitable[object], what: str = "restarted") -> None:
    t = time.monotonic()
    await done
    p.note(f"{what} in {time.monotonic() - t:.1f} s")


def report(cluster: Cluster) -> str:
    parts = [f"===== {proc.name} =====\n{proc.tail()}" for proc in cluster.processes()]
    for i in range(len(cluster.layout.brokers)):
        log = cluster.broker_dir(i) / "broker.log"
        if log.exists():
            lines = log.read_text(errors="replace").splitlines()[-40:]
            parts.append(f"===== broker {i + 1} =====\n" + "\n".join(lines))
    return "\n".join(parts)


async def test_full_restart_of_a_single_broker_under_load(
    tmp_path: Path, results: list[str]
) -> None:
    slots = 20
    with running_broker(tmp_path / "broker") as broker:
        settings = dataclasses.replace(make_settings(broker.bootstrap, tmp_path), partitions=4)
        stack = Stack(settings, tmp_path)
        load: Load | None = None
        try:
            edge = await up(stack)
            async with client_for(edge.url) as client:
                load = Load(client, slots, DEMO)
                load.start()
                await asyncio.sleep(6)
                steady = Phase("steady, no fault")
                await asyncio.sleep(5)
                steady.end = time.monotonic()
                restart = Phase("broker stopped (SIGTERM) and started again")
                restart.fault = time.monotonic()
                for command in ("stop", "start"):
                    t = time.monotonic()
                    timeout = BROKER_STOP_TIMEOUT_S if command == "stop" else BROKER_START_TIMEOUT_S
                    done = await asyncio.to_thread(broker.script, command, timeout=timeout)
                    assert done.returncode == 0, (done.stdout, done.stderr)
                    restart.note(f"{command} took {time.monotonic() - t:.1f} s")
                await all_resumed(load.readers, restart.fault, RESUME_S)
                await asyncio.sleep(2)
                restart.end = time.monotonic()
                await load.stop(DRAIN_S)
            check_readers(load.readers, may_lose_writer=restart.affected)
        except BaseException:
            print(stack.report())
            raise
        finally:
            if load is not None:
                load.cancel()
            stack.close()
    results.append(
        f"## One broker, stopped and started under load ({slots} responses streaming)\n\n"
        f"A worker and an edge read directly (no nginx) from a single-node broker; 1-minute "
        f"load average at the end {os.getloadavg()[0]:.0f} (2 cores).\n\n"
        f"{table([steady, restart], load.readers)}\n\n"
        + counts(load.readers, load.create_retries, 0)
    )
