"""The one logging setup of every tokenrelay process (edge, worker, CLI): plain text or JSON lines
(`TOKENRELAY_LOG_FORMAT`), each line carrying the response id it is about when one is known.

The response id comes from a context variable that request handlers and generation tasks set
(`bind`), so every line logged while a response is handled carries it without passing it around;
a record's own `rid` (`log.warning(..., extra={"rid": rid})`) wins over the context's.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import orjson

# The response being handled in this task (and the tasks it starts, which copy the context).
RID: ContextVar[str | None] = ContextVar("tokenrelay_rid", default=None)
FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s%(rid_part)s: %(message)s"


def bind(rid: str) -> None:
    """This task handles `rid` from here on (an edge request: its task ends with the request)."""
    RID.set(rid)


@contextmanager
def bound(rid: str) -> Iterator[None]:
    """`rid` for the lines logged (and the tasks started) inside, then what it was before: for a
    loop that handles one response after another in one task (the generation agent)."""
    token = RID.set(rid)
    try:
        yield
    finally:
        RID.reset(token)


def rid_of(record: logging.LogRecord) -> str | None:
    rid = getattr(record, "rid", None)
    return rid if isinstance(rid, str) else RID.get()


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ts (UTC, ISO 8601, ms), level, logger, message, rid when known,
    exc (the traceback) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": _iso(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = rid_of(record)
        if rid is not None:
            line["rid"] = rid
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exc"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        return orjson.dumps(line, default=str).decode()


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        rid = rid_of(record)
        record.rid_part = f" [{rid}]" if rid else ""
        return super().format(record)


def setup(log_format: str = "text", level: str = "WARNING") -> None:
    """Replace the root logger's handlers with one on stderr in `log_format`."""
    if log_format not in FORMATS:
        raise SystemExit(f"TOKENRELAY_LOG_FORMAT must be text or json, not {log_format!r}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    # On the handler too: loggers with a level of their own (the worker sets Faust's and
    # aiokafka's) would otherwise pass their INFO lines through.
    handler.setLevel(level.upper())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.captureWarnings(True)  # warnings.warn text through the same format, not bare stderr


def setup_from_env(environ: Mapping[str, str]) -> None:
    """For the CLI: the two settings read directly, so that commands that need no other
    setting (broker) never fail on one."""
    setup(
        environ.get("TOKENRELAY_LOG_FORMAT") or "text",
        environ.get("TOKENRELAY_LOG_LEVEL") or "WARNING",
    )


def _iso(created: float) -> str:
    ms = int(created * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{ms:03d}Z"
