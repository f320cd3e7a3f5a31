"""What a response asks for: the request body's one or many model calls, validated into `Call`s.

Shared by the edge (a bad body is a 400 before anything is published) and the worker (which
reads the same shape back from <prefix>.requests).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from app import structured
from app.contract.requests import Call
from app.errors import BadRequest, TooManyCalls
from app.request import tools, turns

ANSWER = "answer"
# A source is a label readers route on (`answer`, `tool:search`): short, printable, no spaces.
SOURCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/@-]{0,63}")
ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})
MAX_MESSAGES = 1000
MAX_STOP = 16
# (low, high, integral) for every parameter a model understands; others are refused.
PARAMS: dict[str, tuple[float, float, bool]] = {
    "tokens": (1, 1_000_000, False),  # demo
    "rate": (0, 100_000, False),  # demo
    "first_token_ms": (0, 600_000, False),  # demo
    "max_tokens": (1, 1_000_000, True),
    "temperature": (0, 2, False),
    "top_p": (0, 1, False),
}


def parse_calls(body: Mapping[str, Any], max_calls: int) -> list[Call]:
    """The calls of a request: `{"calls": [...]}`, or one call (`model` + `input`/`messages`)
    whose source is `answer`. Raises BadRequest naming the first defect."""
    if "calls" not in body:
        return [_call(body, ANSWER, "")]
    if any(k in body for k in ("model", "input", "messages")):
        raise BadRequest("give either 'calls' or a single 'model' with 'input'/'messages'")
    calls = body["calls"]
    if not isinstance(calls, list) or not calls:
        raise BadRequest("'calls' must be a non-empty list")
    if len(calls) > max_calls:
        raise TooManyCalls(f"at most {max_calls} calls per response, got {len(calls)}")
    out: list[Call] = []
    for i, raw in enumerate(calls):
        where = f"calls[{i}]."
        if not isinstance(raw, dict):
            raise BadRequest(f"calls[{i}] must be an object")
        source = raw.get("source")
        if not isinstance(source, str) or not SOURCE.fullmatch(source):
            raise BadRequest(
                f"{where}source must be 1-64 of A-Z a-z 0-9 _ . : / @ - (starting with a "
                "letter or digit)"
            )
        if any(c.source == source for c in out):
            raise BadRequest(f"{where}source {source!r} is used twice")
        out.append(_call(raw, source, where))
    return out


def _call(raw: Mapping[str, Any], source: str, where: str) -> Call:
    model = raw.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest(f"{where}model must be a model name, see GET /v1/models")
    prompt, messages = raw.get("input"), raw.get("messages")
    if prompt is not None and messages is not None:
        raise BadRequest(f"give {where}input or {where}messages, not both")
    if isinstance(prompt, str):
        chat: tuple[Mapping[str, Any], ...] = ({"role": "user", "content": prompt},)
    elif isinstance(messages, list) and messages:
        chat = tuple(_message(m, f"{where}messages[{i}]") for i, m in enumerate(messages))
        turns.check_answers(chat, f"{where}messages")
    else:
        raise BadRequest(f"give {where}input (a string) or {where}messages (a non-empty list)")
    if len(chat) > MAX_MESSAGES:
        raise BadRequest(f"at most {MAX_MESSAGES} messages per call")
    return Call(source, model, chat, _params(structured.lifted(raw, where), where))


def _message(raw: Any, where: str) -> Mapping[str, Any]:
    role = raw.get("role") if isinstance(raw, dict) else None
    if not isinstance(role, str) or role not in ROLES:  # a list is unhashable: not `in` a set
        got = f", not {raw.get('role')!r:.40}" if isinstance(raw, dict) else ""
        raise BadRequest(f"{where} must be an object with a role in {sorted(ROLES)}{got}")
    if raw["role"] == "tool" or raw.get("tool_calls") is not None:
        return turns.message(raw, where)  # the tool turns (turns.py)
    if raw.get("tool_call_id") is not None:
        raise BadRequest(f"{where}: only tool messages carry a tool_call_id")
    content = raw.get("content")
    parts_ok = isinstance(content, list) and all(isinstance(p, dict) for p in content)
    if not isinstance(content, str) and not parts_ok:
        raise BadRequest(f"{where}.content must be a string or a list of content parts")
    return {"role": raw["role"], "content": content}


def _params(raw: Any, where: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise BadRequest(f"'{where}params' must be an object")
    out: dict[str, Any] = {}
    for name, value in raw.items():
        if value is None:
            continue
        if name == "stop":
            out[name] = _stop(value, where)
            continue
        if name == structured.KEY:
            out[name] = structured.response_format(value, f"{where}params.")
            continue
        if name in tools.PARAMS:
            out[name] = value  # checked together below (tool_choice names one of the tools)
            continue
        if name not in PARAMS:
            raise BadRequest(f"unknown parameter {where}params.{name[:60]}")
        low, high, integral = PARAMS[name]
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or not low <= value <= high or integral and value != int(value):
            kind = "an integer" if integral else "a number"
            raise BadRequest(f"{where}params.{name} must be {kind} from {low:g} to {high:g}")
        out[name] = value
    return tools.check(out, where)


def _stop(value: Any, where: str) -> list[str]:
    stops = [value] if isinstance(value, str) else value
    if (
        not isinstance(stops, list)
        or not 0 < len(stops) <= MAX_STOP
        or not all(isinstance(s, str) and s for s in stops)
    ):
        raise BadRequest(f"{where}params.stop must be a string or up to {MAX_STOP} strings")
    return stops
