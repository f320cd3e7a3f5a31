"""The `tokenrelay` command: broker, worker, edge, up, db, audit, keys, openapi, publish, tail,
and the edge's HTTP API: create, read, get, cancel, models (cli_api.py)."""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
from typing import Any

from app import cli_api, infra, logs
from app.settings import Settings


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logs.setup_from_env(os.environ)  # edge, worker and commands alike (app/logs.py)
    return int(args.run(args) or 0)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tokenrelay", description=__doc__)
    sub = parser.add_subparsers(required=True, metavar="COMMAND")
    broker = sub.add_parser("broker", help="the local Kafka broker")
    broker.add_argument("action", choices=["start", "stop", "status"])
    broker.set_defaults(run=_broker)
    sub.add_parser("worker", help="one Faust worker (generation, watchdog)").set_defaults(
        run=_worker
    )
    edge = sub.add_parser("edge", help="one SSE edge process")
    edge.add_argument("--host")
    edge.add_argument("--port", type=int)
    edge.set_defaults(run=_edge)
    up = sub.add_parser("up", help="broker (unless TOKENRELAY_KAFKA is set), worker and edge")
    up.add_argument("--host")
    up.add_argument("--port", type=int)
    up.set_defaults(run=_up)
    db = sub.add_parser("db", help="the database of complete responses (docs/storage.md)")
    db.add_argument("action", choices=["upgrade", "revision"])
    db.set_defaults(run=_db)
    audit = sub.add_parser("audit", help="verify or export the audit log (docs/audit.md)")
    audit.add_argument("action", choices=["verify", "export"])
    audit.add_argument("--since", help="export from this time: ISO 8601 or epoch ms")
    audit.add_argument("--until", help="export up to (not including) this time")
    audit.set_defaults(run=_audit)
    keys = sub.add_parser("keys", help="API keys: create, list, revoke (docs/security.md)")
    keys_sub = keys.add_subparsers(required=True, dest="action", metavar="ACTION")
    keys_sub.add_parser("create", help="a new key, printed once").add_argument(
        "--name", required=True
    )
    keys_sub.add_parser("list", help="id, name, created, revoked (never a key)")
    keys_sub.add_parser("revoke", help="revoke a key by id or name").add_argument("id_or_name")
    keys.set_defaults(run=_keys)
    publish = sub.add_parser("publish", help="publish standard input as a response")
    publish.add_argument("--id", required=True, dest="rid")
    publish.add_argument("--source", default="answer")
    publish.set_defaults(run=_publish)
    spec = sub.add_parser("openapi", help="print the edge's OpenAPI document (docs/api.md)")
    spec.add_argument("--markdown", action="store_true", help="as docs/api.md")
    spec.set_defaults(run=_openapi)
    tail = sub.add_parser("tail", help="print a response's events as they come")
    tail.add_argument("rid")
    tail.add_argument("--after", type=int, default=0)
    tail.add_argument("--url", help="edge base URL (default: from settings)")
    tail.add_argument("--token", help="an API key or the response's read token")
    tail.set_defaults(run=_tail)
    cli_api.register(sub)  # create, read, get, cancel, models
    return parser


def _openapi(args: argparse.Namespace) -> int:
    import orjson

    from app.edge import apidoc, openapi

    if args.markdown:  # the defaults, so that docs/api.md does not depend on who renders it
        sys.stdout.write(apidoc.render())
    else:
        doc = openapi.document(Settings.from_env())
        sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2)
                         .decode() + "\n")  # fmt: skip
    return 0


def _broker(args: argparse.Namespace) -> int:
    script = ["bash", str(infra.broker_script()), args.action]  # app/infra.py: checkout or wheel
    return subprocess.call(script, env=infra.broker_env(Settings.from_env()))


def _worker(args: argparse.Namespace) -> int:
    from agents.worker import run_worker

    return run_worker(Settings.from_env())


def _edge(args: argparse.Namespace) -> int:
    import uvicorn

    from app.edge.main import close_streams, create_app

    settings = Settings.from_env(edge_host=args.host, edge_port=args.port)
    app = create_app(settings)

    class EdgeServer(uvicorn.Server):
        """uvicorn waits for open responses before it stops; SSE streams never end by
        themselves, so a stop signal first ends each of them cleanly."""

        def handle_exit(self, sig: int, frame: Any) -> None:
            close_streams(app)
            super().handle_exit(sig, frame)

    config = uvicorn.Config(
        app,
        host=settings.edge_host,
        port=settings.edge_port,
        log_level="warning",
        log_config=None,  # uvicorn's loggers go through app/logs.py's handler, not their own
        timeout_graceful_shutdown=3,
    )
    EdgeServer(config).run()
    return 0


def _db(args: argparse.Namespace) -> int:
    from app.storage import migrate

    url = Settings.from_env().database_url
    if args.action == "upgrade":
        asyncio.run(migrate.upgrade(url))
    print(f"database at revision {asyncio.run(migrate.revision(url))}")
    return 0


def _audit(args: argparse.Namespace) -> int:
    from app.audit import parse_time
    from app.storage import audit

    url = Settings.from_env().database_url
    if args.action == "verify":
        return asyncio.run(audit.run_verify(url, sys.stdout))
    try:
        since, until = (None if t is None else parse_time(t) for t in (args.since, args.until))
    except ValueError as exc:
        raise SystemExit(f"tokenrelay audit export: {exc}") from None
    return asyncio.run(audit.run_export(url, since, until, sys.stdout.buffer))


def _keys(args: argparse.Namespace) -> int:
    from app.storage import keys, migrate

    url = Settings.from_env().database_url
    asyncio.run(migrate.upgrade_if_sqlite(url))
    arg = getattr(args, "name", None) or getattr(args, "id_or_name", None)
    return asyncio.run(keys.run(url, args.action, arg, sys.stdout, sys.stderr))


def _demo_url(settings: Settings) -> str:
    """The demo page's URL; with auth on, the development key in its fragment (the page keeps
    it; a fragment never reaches a server or its logs)."""
    url = f"http://{settings.edge_host}:{settings.edge_port}/"
    if settings.auth == "off":
        print("tokenrelay: WARNING: TOKENRELAY_AUTH=off, anyone can use this edge", flush=True)
        return url
    from app.auth import devkey

    key, created = asyncio.run(devkey.ensure(settings.database_url, settings.data_dir))
    where = devkey.path(settings.data_dir)
    said = "created the" if created else "the"
    curl = f'curl -H "Authorization: Bearer $(cat {where})"'
    print(f'tokenrelay: {said} development API key "dev" is in {where}: {curl} ...', flush=True)
    return f"{url}#key={key}"


def _up(args: argparse.Namespace) -> int:
    from app import up
    from app.storage import migrate

    settings = Settings.from_env(edge_host=args.host, edge_port=args.port)
    asyncio.run(migrate.upgrade(settings.database_url))
    up.say(f"database ready (revision {asyncio.run(migrate.revision(settings.database_url))})")
    return up.run(settings, _demo_url(settings))


def _publish(args: argparse.Namespace) -> int:
    from app.publish import publish

    return asyncio.run(publish(Settings.from_env(), args.rid, args.source, sys.stdin))


def _tail(args: argparse.Namespace) -> int:
    from app.client import default_url
    from app.tail import tail

    return asyncio.run(tail(args.url or default_url(), args.rid, args.after, args.token))


if __name__ == "__main__":
    sys.exit(main())
