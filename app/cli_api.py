"""The `tokenrelay` commands that talk to an edge over HTTP, through app/client/: create, read,
get, cancel, models (and tail, in app/tail.py). Registered by app/cli.py.

Where: `--url`, else `TOKENRELAY_URL`, else the edge's settings. Who: `TOKENRELAY_API_KEY` (else
the development key of `tokenrelay up`) for writes (and reads), `--token` for a read token.
Exit codes: 0 when a streamed response ended `done` (or a call succeeded), 1 for any other end
or error, 130 after Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from app.client import Client, Event, EventStream

INTERRUPTED = 130  # the shell's code for a process ended by SIGINT


def register(sub: Any) -> None:
    """Add the commands to `tokenrelay`'s subparsers."""
    create = sub.add_parser("create", help="create a response and stream its answer")
    create.add_argument("prompt", nargs="*", help="the prompt (default: standard input)")
    create.add_argument("--model", default="demo")
    create.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE",
        help="a call parameter (VALUE parsed as JSON when it is JSON): --param tokens=40",
    )  # fmt: skip
    create.add_argument("--cancel-on-exit", action="store_true", help="Ctrl-C cancels it")
    _reading(create)
    create.set_defaults(run=_create)
    read = sub.add_parser("read", help="stream a response's answer (resume with --after)")
    read.add_argument("rid")
    read.add_argument("--after", type=int, default=0, help="start after this seq")
    _reading(read)
    read.set_defaults(run=_read)
    get = sub.add_parser("get", help="a response's snapshot: status, last seq, text (JSON)")
    get.add_argument("rid")
    _where(get)
    get.set_defaults(run=_get)
    cancel = sub.add_parser("cancel", help="cancel a response in progress")
    cancel.add_argument("rid")
    _where(cancel)
    cancel.set_defaults(run=_cancel)
    models = sub.add_parser("models", help="the model names this edge accepts")
    _where(models)
    models.set_defaults(run=_models)


def _where(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="edge base URL (default: TOKENRELAY_URL, else settings)")
    parser.add_argument("--token", help="a read token (the API key is TOKENRELAY_API_KEY)")


def _reading(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--view", help="read this view (create asks for it too)")
    parser.add_argument("--json", action="store_true", help="every event as a JSON line")
    _where(parser)


def client_for(args: argparse.Namespace) -> Client:
    from app.client import Client

    return Client(
        getattr(args, "url", None) or None, api_key=api_key(), token=getattr(args, "token", None)
    )


def api_key() -> str | None:
    """TOKENRELAY_API_KEY, else the development key `tokenrelay up` keeps in the data dir (so the
    commands work beside `make run` with nothing to set); None without either."""
    import os

    from app.auth import devkey, secretfile
    from app.client.base import KEY_ENV
    from app.settings import Settings

    return os.environ.get(KEY_ENV) or secretfile.read(devkey.path(Settings.from_env().data_dir))


def _create(args: argparse.Namespace) -> int:
    prompt = " ".join(args.prompt) if args.prompt else sys.stdin.read()
    body: dict[str, Any] = {"model": args.model, "input": prompt}
    try:
        params = dict(_param(p) for p in args.param)
    except ValueError as exc:
        return _fail(str(exc))
    if params:
        body["params"] = params
    if args.view:
        body["views"] = [args.view]
    with client_for(args) as client:
        try:
            created = client.create(body)
        except _errors() as exc:
            return _fail(f"create failed: {exc}")
        except KeyboardInterrupt:
            return INTERRUPTED  # before an id came back: nothing to say about it
        print(f"tokenrelay: {created.id}", file=sys.stderr, flush=True)
        stream = client.events(created, view=args.view)
        return _follow(client, stream, created.id, args, cancel_on_exit=args.cancel_on_exit)


def _read(args: argparse.Namespace) -> int:
    with client_for(args) as client:
        stream = client.events(args.rid, after=args.after, view=args.view)
        return _follow(client, stream, args.rid, args, cancel_on_exit=False)


def _follow(
    client: Client, stream: EventStream, rid: str, args: argparse.Namespace, cancel_on_exit: bool
) -> int:
    """Print the stream as it comes; the exit code says how the response ended."""
    last: Event | None = None
    ends_line = True  # whether the text so far ends a line (a terminal's prompt follows)
    try:
        with stream:
            for event in stream:
                last = event
                if args.json:
                    sys.stdout.write(orjson.dumps(event.data).decode() + "\n")
                elif event.text:
                    sys.stdout.write(event.text)
                    ends_line = event.text.endswith("\n")
                sys.stdout.flush()
    except KeyboardInterrupt:
        return _interrupted(client, stream, rid, cancel_on_exit)
    except _errors() as exc:
        return _fail(f"reading {rid}: {exc}")
    if not ends_line:
        sys.stdout.write("\n")
    if last is None:  # 204: the cursor already held the terminal event; how did it end?
        try:
            status = client.get(rid).status
        except _errors() as exc:
            return _fail(f"nothing after seq {stream.last_event_id}; its status: {exc}")
        return 0 if status == "done" else _fail(f"{rid} ended with {status}")
    if last.type == "done":
        return 0
    what = f"{last.code}: {last.message}" if last.type == "error" else last.type
    return _fail(f"{rid} ended with {what}")


def _interrupted(client: Client, stream: EventStream, rid: str, cancel_on_exit: bool) -> int:
    """Ctrl-C (the stream is closed already): detach, the response goes on, and say how to
    resume; or cancel it."""
    seq = stream.last_event_id
    print(file=sys.stderr)
    if cancel_on_exit:
        try:
            answer = client.cancel(rid)
        except Exception as exc:  # said, not raised: the user is leaving either way
            print(f"tokenrelay: cancelling {rid} failed: {exc}", file=sys.stderr)
            return INTERRUPTED
        print(f"tokenrelay: cancel of {rid}: {answer.status}", file=sys.stderr)
        return INTERRUPTED
    print(
        f"tokenrelay: detached from {rid} at seq {seq}; it goes on. Resume with:\n"
        f"  tokenrelay read {rid} --after {seq}",
        file=sys.stderr,
    )
    return INTERRUPTED


def _get(args: argparse.Namespace) -> int:
    return _call(args, lambda c: c.get(args.rid).data)


def _cancel(args: argparse.Namespace) -> int:
    return _call(args, lambda c: c.cancel(args.rid).data)


def _models(args: argparse.Namespace) -> int:
    return _call(args, lambda c: "\n".join(c.models()))


def _call(args: argparse.Namespace, do: Callable[[Client], Any]) -> int:
    with client_for(args) as client:
        try:
            result = do(client)
        except _errors() as exc:
            return _fail(str(exc))
    if isinstance(result, str):
        print(result)
    else:
        print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    return 0


def _param(raw: str) -> tuple[str, Any]:
    key, eq, value = raw.partition("=")
    if not eq or not key:
        raise ValueError(f"--param {raw!r} is not KEY=VALUE")
    try:
        return key, orjson.loads(value)
    except orjson.JSONDecodeError:
        return key, value


def _errors() -> tuple[type[Exception], ...]:
    """What a call may raise that is the edge's answer or the network's, not a bug."""
    import httpx

    from app.client import ClientError

    return (ClientError, httpx.HTTPError)


def _fail(message: str) -> int:
    print(f"tokenrelay: {message}", file=sys.stderr)
    return 1
