"""app/logs.py: JSON lines with the response id from the context (and a record's own), plain
text otherwise; the id follows into tasks started while it is bound, and no further."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Iterator

import orjson
import pytest

from app import logs


@pytest.fixture
def captured() -> Iterator[tuple[io.StringIO, logging.Handler]]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    yield out, handler


def emit(handler: logging.Handler, msg: str, **extra: object) -> None:
    log = logging.getLogger("tokenrelay.test")
    record = log.makeRecord(log.name, logging.WARNING, __file__, 1, msg, (), None, extra=extra)
    handler.handle(record)


def test_json_lines_carry_the_bound_response_id(
    captured: tuple[io.StringIO, logging.Handler],
) -> None:
    out, handler = captured
    handler.setFormatter(logs.JsonFormatter())
    emit(handler, "no response here")
    with logs.bound("r-1"):
        emit(handler, "inside")
        emit(handler, "the record's own wins", rid="r-2")
    emit(handler, "after")
    lines = [orjson.loads(line) for line in out.getvalue().splitlines()]
    assert [line.get("rid") for line in lines] == [None, "r-1", "r-2", None]
    assert set(lines[1]) == {"ts", "level", "logger", "message", "rid"}
    assert lines[1]["level"] == "WARNING" and lines[1]["logger"] == "tokenrelay.test"
    assert lines[1]["ts"].endswith("Z")


def test_an_exception_is_one_json_line(captured: tuple[io.StringIO, logging.Handler]) -> None:
    out, handler = captured
    handler.setFormatter(logs.JsonFormatter())
    log = logging.getLogger("tokenrelay.test.exc")
    log.addHandler(handler)
    log.propagate = False
    try:
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("it failed")
    finally:
        log.removeHandler(handler)
    (line,) = out.getvalue().splitlines()
    obj = orjson.loads(line)
    assert obj["message"] == "it failed" and "ValueError: boom" in obj["exc"]


def test_text_lines_show_the_id_when_known(captured: tuple[io.StringIO, logging.Handler]) -> None:
    out, handler = captured
    handler.setFormatter(logs.TextFormatter())
    emit(handler, "plain")
    with logs.bound("r-9"):
        emit(handler, "about it")
    first, second = out.getvalue().splitlines()
    assert first.endswith("WARNING tokenrelay.test: plain")
    assert second.endswith("WARNING tokenrelay.test [r-9]: about it")


async def test_tasks_started_while_bound_keep_the_id() -> None:
    seen: list[str | None] = []

    async def task() -> None:
        await asyncio.sleep(0)
        seen.append(logs.RID.get())

    with logs.bound("r-3"):
        started = asyncio.create_task(task())
    other = asyncio.create_task(task())
    await asyncio.gather(started, other)
    assert sorted(seen, key=str) == [None, "r-3"]


def test_an_unknown_format_stops_the_process() -> None:
    with pytest.raises(SystemExit, match="TOKENRELAY_LOG_FORMAT"):
        logs.setup("xml")
