"""`tokenrelay cluster up`'s pieces without starting anything: the layout's addresses, the settings
its workers and edges get, nginx's configuration from infra/nginx/tokenrelay.conf, and broker.sh
refusing a cluster node's settings that cannot work (before any JVM starts)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from app import cluster_nginx
from app.cluster import REPLICATION, Cluster, Layout, cluster_settings
from app.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def test_layout_addresses(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    assert layout.bootstrap == "127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096"
    assert layout.voters == "1@127.0.0.1:9093,2@127.0.0.1:9095,3@127.0.0.1:9097"
    assert layout.url == "http://127.0.0.1:8080"


def test_cluster_settings_default_and_environment(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    chosen = cluster_settings(Settings(kafka="elsewhere:9092"), layout, {})
    assert chosen.kafka == layout.bootstrap  # always its own brokers
    assert chosen.replication == REPLICATION == 3
    assert chosen.worker_session_timeout_s == 3.0  # a SIGKILLed worker's partitions move soon
    assert chosen.edge_trusted_proxies == "127.0.0.1"
    environ = {"TOKENRELAY_REPLICATION": "2", "TOKENRELAY_WORKER_SESSION_TIMEOUT_S": "8"}
    kept = cluster_settings(Settings.from_env(environ), layout, environ)
    assert (kept.replication, kept.worker_session_timeout_s) == (2, 8.0)


def test_every_node_gets_the_same_cluster_id(tmp_path: Path) -> None:
    c = Cluster(Settings(), Layout(tmp_path))
    envs = [c.broker_env(i) for i in range(3)]
    assert len({e["TOKENRELAY_BROKER_CLUSTER_ID"] for e in envs}) == 1
    assert [e["TOKENRELAY_BROKER_NODE_ID"] for e in envs] == ["1", "2", "3"]
    assert len({e["TOKENRELAY_BROKER_DIR"] for e in envs}) == 3
    cid = envs[0]["TOKENRELAY_BROKER_CLUSTER_ID"]
    assert len(cid) == 22 and not cid.startswith("-")  # StorageTool's format
    again = Cluster(Settings(), Layout(tmp_path))  # a later `cluster up`: the same id
    assert again.broker_env(0)["TOKENRELAY_BROKER_CLUSTER_ID"] == cid


def test_nginx_config_is_the_shipped_one_with_both_edges(tmp_path: Path) -> None:
    main = cluster_nginx.write_config(tmp_path, cluster_nginx.site(18080, [18000, 18010]))
    conf = (tmp_path / "tokenrelay.conf").read_text()
    shipped = cluster_nginx.conf().read_text()
    assert "listen 127.0.0.1:18080;" in conf and cluster_nginx.LISTEN not in conf
    assert "server 127.0.0.1:18000 max_fails=1" in conf
    assert "server 127.0.0.1:18010 max_fails=1" in conf
    for line in ("proxy_buffering off;", "hash $tokenrelay_route consistent;", "gzip off;"):
        assert line in shipped and line in conf
    assert f"include {tmp_path}/tokenrelay.conf;" in main.read_text()


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"TOKENRELAY_BROKER_NODE_ID": "x"}, "NODE_ID must be a number"),
        ({"TOKENRELAY_BROKER_VOTERS": "1@127.0.0.1"}, "VOTERS must be id@host:port"),
        ({"TOKENRELAY_BROKER_NODE_ID": "4", "TOKENRELAY_BROKER_VOTERS": "1@h:1,2@h:2"},
         "does not list this node"),
        ({"TOKENRELAY_BROKER_REPLICATION": "0"}, "REPLICATION must be a positive number"),
        ({"TOKENRELAY_BROKER_MIN_ISR": "two"}, "MIN_ISR must be a positive number"),
        ({"TOKENRELAY_BROKER_SESSION_TIMEOUT_MS": "4s"}, "SESSION_TIMEOUT_MS must be a number"),
    ],
)  # fmt: skip
def test_broker_sh_refuses_a_node_that_cannot_work(
    tmp_path: Path, env: dict[str, str], says: str
) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith("TOKENRELAY_BROKER_")}
    done = subprocess.run(
        ["bash", str(REPO / "infra" / "kafka" / "broker.sh"), "start"],
        env=base | {"TOKENRELAY_BROKER_DIR": str(tmp_path), "TOKENRELAY_BROKER_PORT": "1",
                    "TOKENRELAY_BROKER_CONTROLLER_PORT": "2"} | env,
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 1 and says in done.stderr, done.stderr
    assert not (tmp_path / "server.properties").exists()
