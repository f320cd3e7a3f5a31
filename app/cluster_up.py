"""`tokenrelay cluster up` as `tokenrelay up` is (app/up.py): one line per component as it becomes
ready, the URL once nginx answers, status 1 with a log's last lines when a node fails or stops,
and Ctrl-C (or SIGTERM) stops what it started (brokers already running are left running).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

from app.cluster import Cluster, ClusterError, Layout
from app.settings import Settings
from app.up import say


def run(settings: Settings, layout: Layout, demo_url: Callable[[str], str]) -> int:
    """Start, supervise and stop the cluster; the exit status. `demo_url(base)` is the page's
    URL behind nginx (with the development key, when auth is on)."""
    url = demo_url(layout.url + "/")  # first: it may create the development key, and says so
    cluster = Cluster(settings, layout)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop the same way as Ctrl-C
    try:
        cluster.start_brokers()
        say(
            f"brokers ready on {layout.bootstrap} (KRaft, 3 voters; replication "
            f"{settings.replication}, min.insync.replicas 2)"
        )
        # Nodes of a kind start side by side; each says it is ready in order.
        for i in range(len(layout.worker_metrics)):
            cluster.start_worker(i)
        for i, port in enumerate(layout.worker_metrics):
            cluster.wait_worker(i)
            say(
                f"worker {i + 1} ready (metrics at http://{settings.worker_metrics_host}:{port}/metrics)"
            )
        for i in range(len(layout.edges)):
            cluster.start_edge(i)
        for i, port in enumerate(layout.edges):
            cluster.wait_edge(i)
            say(f"edge {i + 1} ready on http://127.0.0.1:{port}")
        cluster.start_nginx()
        cluster.wait_nginx()
        say(f"nginx ready on {layout.url}, in front of both edges")
        say(f"demo page at {url} (Ctrl-C stops; logs in {cluster.logs})")
        while True:
            _check(cluster)
            time.sleep(0.5)
    except ClusterError as exc:
        say(str(exc))
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        cluster.stop()


def _check(cluster: Cluster) -> None:
    for proc in cluster.processes():
        if not proc.alive:
            raise ClusterError(
                f"the {proc.name} stopped; the last lines of {proc.log}:\n{proc.tail()}"
            )
    for i in sorted(cluster.started_brokers):
        if cluster.broker_pid(i) is None:
            log = cluster.broker_dir(i) / "broker.log"
            lines = log.read_text(errors="replace").splitlines()[-30:] if log.exists() else []
            raise ClusterError(
                f"broker {i + 1} stopped; the last lines of {log}:\n" + "\n".join(lines)
            )
