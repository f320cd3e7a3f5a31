"""Every Kafka client the code constructs goes through app/kafka_security.py.

A client built with its own `bootstrap_servers` would connect in plaintext to a broker that
wants TLS and SASL, and fail only in production. So this reads the source (app/, agents/,
bench/, examples/ and the integration tests' Kafka helpers) and fails for a constructor call
that takes none of kafka_security's options, or sets the servers beside them.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCANNED = ["app", "agents", "bench", "examples", "tests/integration/kafkautil.py"]
# Client classes by the module they come from (any submodule counts).
CLIENTS = {
    "aiokafka": {"AIOKafkaConsumer", "AIOKafkaProducer", "AIOKafkaAdminClient", "AIOKafkaClient"},
    "confluent_kafka": {
        "Producer",
        "Consumer",
        "AdminClient",
        "SerializingProducer",
        "DeserializingConsumer",
    },
    "faust": {"App"},
    "agents": {"App"},  # agents/transport.py: faust.App with its consumer's shorter fetch wait
}
# Options that name where to connect: set beside kafka_security's, they would override them.
OWN_SERVERS = {"bootstrap_servers", "broker", "bootstrap.servers"}
# Today's sites; fewer found means the scan broke, not that the code is clean.
AT_LEAST = 15


@dataclass(frozen=True)
class Site:
    where: str
    client: str
    secured: bool
    own_servers: bool


def client_sites(path: Path, source: str) -> list[Site]:
    tree = ast.parse(source, str(path))
    names, modules = _imports(tree)
    sites = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        client = _client(node.func, names, modules)
        if client is None:
            continue
        inner = [n for arg in [*node.args, *node.keywords] for n in ast.walk(arg)]
        secured = any(isinstance(n, ast.Call) and _is_security(n.func, names) for n in inner)
        keys = {k.arg for k in node.keywords} | {
            n.value for n in inner if isinstance(n, ast.Constant) and isinstance(n.value, str)
        }
        where = f"{path.relative_to(REPO)}:{node.lineno}"
        sites.append(Site(where, client, secured, bool(keys & OWN_SERVERS)))
    return sites


def _imports(tree: ast.Module) -> tuple[dict[str, str], dict[str, str]]:
    """Local names of client classes (-> class) and of client modules (-> library)."""
    names: dict[str, str] = {}
    modules: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            library = node.module.split(".")[0]
            for alias in node.names:
                local = alias.asname or alias.name
                if node.module == "app.kafka_security" or alias.name == "kafka_security":
                    names[local] = "kafka_security"
                elif alias.name in CLIENTS.get(library, ()):
                    names[local] = alias.name
                elif library in CLIENTS:
                    modules[local] = library
        elif isinstance(node, ast.Import):
            for alias in node.names:
                library = alias.name.split(".")[0]
                if library in CLIENTS:
                    modules[alias.asname or library] = library
    return names, modules


def _client(func: ast.expr, names: dict[str, str], modules: dict[str, str]) -> str | None:
    if isinstance(func, ast.Name) and names.get(func.id) not in (None, "kafka_security"):
        return names[func.id]
    if isinstance(func, ast.Attribute):
        base = func.value
        while isinstance(base, ast.Attribute):
            base = base.value
        library = modules.get(base.id) if isinstance(base, ast.Name) else None
        if library and func.attr in CLIENTS[library]:
            return func.attr
    return None


def _is_security(func: ast.expr, names: dict[str, str]) -> bool:
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return names.get(func.value.id) == "kafka_security"
    return isinstance(func, ast.Name) and names.get(func.id) == "kafka_security"


def scan() -> list[Site]:
    files: list[Path] = []
    for entry in SCANNED:
        path = REPO / entry
        files.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return [site for f in files for site in client_sites(f, f.read_text())]


def test_every_client_goes_through_kafka_security() -> None:
    sites = scan()
    assert len(sites) >= AT_LEAST, f"found only {[s.where for s in sites]}"
    bare = [f"{s.where} {s.client}" for s in sites if not s.secured]
    assert not bare, "Kafka clients built without app/kafka_security.py's options: " + str(bare)
    overriding = [f"{s.where} {s.client}" for s in sites if s.own_servers]
    assert not overriding, "Kafka clients that set their own servers: " + str(overriding)
    for module in ("app/producer.py", "app/topics.py", "agents/app.py", "app/edge/follow.py"):
        assert any(s.where.startswith(module) for s in sites), f"no client found in {module}"


@pytest.mark.parametrize(
    ("source", "secured", "own_servers"),
    [
        (
            "from aiokafka import AIOKafkaConsumer\nAIOKafkaConsumer(bootstrap_servers=s.kafka)",
            False,
            True,
        ),
        ("import aiokafka\naiokafka.AIOKafkaProducer(acks='all')", False, False),
        ("from aiokafka.admin import AIOKafkaAdminClient as A\nA()", False, False),
        ("from confluent_kafka import Producer\nProducer({'bootstrap.servers': x})", False, True),
        ("import faust\nfaust.App('w', broker='kafka://x')", False, True),
        (
            "from app import kafka_security\nfrom aiokafka import AIOKafkaConsumer\n"
            "AIOKafkaConsumer(**kafka_security.aiokafka_options(s), group_id='g')",
            True,
            False,
        ),
        (
            "from app.kafka_security import librdkafka_config\n"
            "from confluent_kafka import Producer\n"
            "Producer({**librdkafka_config(s), 'bootstrap.servers': 'elsewhere:9092'})",
            True,
            True,
        ),
    ],
)
def test_the_scan_sees_each_spelling(source: str, secured: bool, own_servers: bool) -> None:
    (site,) = client_sites(REPO / "example.py", source)
    assert (site.secured, site.own_servers) == (secured, own_servers)
