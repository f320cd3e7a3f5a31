"""What the numbers were measured on: CPU, cores, memory, kernel, and the versions of everything
in the path (Python packages, Kafka, Node, Redis, resumable-stream), plus how busy the host
already was, since a shared 2-core machine colours every figure."""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
from importlib import metadata
from typing import Any

import psutil

from bench.procs import REPO

PACKAGES = (
    "confluent-kafka",
    "aiokafka",
    "faust-streaming",
    "starlette",
    "uvicorn",
    "uvloop",
    "httptools",
    "orjson",
)


def describe() -> dict[str, Any]:
    return {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": {name: _version(name) for name in PACKAGES},
        "kafka": _kafka_version(),
        "java": _first_line(["java", "-version"], stderr=True),
        "node": _first_line(["node", "--version"]),
        "redis": _first_line(["redis-server", "--version"]),
        "resumable_stream": _npm_version("resumable-stream"),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
        "nofile_limit": _nofile(),
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _kafka_version() -> str | None:
    pom = (REPO / "infra" / "kafka" / "pom.xml").read_text()
    found = re.search(r"<kafka.version>(.*?)</kafka.version>", pom)
    return found.group(1) if found else None


def _first_line(argv: list[str], stderr: bool = False) -> str | None:
    if shutil.which(argv[0]) is None:
        return None
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (done.stderr if stderr else done.stdout).strip()
    return text.splitlines()[0] if text else None


def _npm_version(name: str) -> str | None:
    try:
        manifest = REPO / "bench" / "peer" / "node_modules" / name / "package.json"
        return str(json.loads(manifest.read_text())["version"])
    except (OSError, ValueError, KeyError):
        return None


def _nofile() -> int:
    import resource

    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]
