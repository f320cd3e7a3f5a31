"""nginx in front of the cluster's edges (app/cluster.py): infra/nginx/tokenrelay.conf as shipped,
its listen port and upstream rewritten, included in a minimal main configuration of its own dir.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from app import infra


def conf() -> Path:
    """infra/nginx/tokenrelay.conf, in a checkout or an installed wheel (app/infra.py)."""
    return infra.root() / "nginx" / "tokenrelay.conf"


LISTEN = "listen 127.0.0.1:8080;"
UPSTREAM = "server 127.0.0.1:8000 max_fails=1 fail_timeout=5s;"

# Everything nginx writes stays in its dir (pid, logs, temp files), so it needs no root and
# leaves the system's nginx alone. `daemon off`: it is a child of `tokenrelay cluster up`.
MAIN = """daemon off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log {log_level};
{user}
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
{http}    include {dir}/tokenrelay.conf;
}}
"""


def binary() -> str:
    """The nginx executable (Debian keeps it in /usr/sbin, often off a user's PATH)."""
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None
    )
    if found is None:
        raise RuntimeError("nginx is not installed: `make cluster` installs it")
    return found


def site(port: int, edge_ports: list[int], changes: dict[str, str] | None = None) -> str:
    """infra/nginx/tokenrelay.conf listening on 127.0.0.1:`port`, proxying to the edges on
    `edge_ports`, with `changes` (old text: new) made after."""
    text = conf().read_text()
    servers = "\n    ".join(
        f"server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;" for p in edge_ports
    )
    edits = {LISTEN: f"listen 127.0.0.1:{port};", UPSTREAM: servers, **(changes or {})}
    for old, new in edits.items():
        if old not in text:  # the shipped file changed: say so rather than proxy elsewhere
            raise RuntimeError(f"{conf()} no longer has {old!r}: update app/cluster_nginx.py")
        text = text.replace(old, new)
    return text


def write_config(
    directory: Path, site_text: str, *, http: str = "", log_level: str = "warn"
) -> Path:
    """nginx.conf in `directory` including `site_text` (as tokenrelay.conf beside it), with
    `http` added to its http {} block; returns the main file's path."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "tokenrelay.conf").write_text(site_text)
    # As root, nginx's workers would switch to `nobody`, who cannot write this dir.
    user = "user root;" if os.geteuid() == 0 else ""
    main = directory / "nginx.conf"
    main.write_text(MAIN.format(dir=directory, user=user, http=http, log_level=log_level))
    return main


def command(directory: Path) -> list[str]:
    return [binary(), "-p", str(directory), "-c", str(directory / "nginx.conf")]
