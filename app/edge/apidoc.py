"""docs/api.md, rendered from the OpenAPI document (openapi.py): every operation with its access,
parameters, body fields, statuses and error codes, and a curl example; then every schema's
fields. `tokenrelay openapi --markdown > docs/api.md` writes it; a unit test fails while the file
differs from what the document renders, so the prose cannot drift from the contract.
"""

from __future__ import annotations

from typing import Any

import orjson

from app.edge.openapi import document
from app.edge.openapi_parts import API_KEY, codes_of
from app.edge.openapi_schemas import REF
from app.settings import Settings

Doc = dict[str, Any]
HEADER = """<!-- Rendered from app/edge/openapi*.py: tokenrelay openapi --markdown > docs/api.md -->
# HTTP API

The edge serves this as an OpenAPI 3.1 document at `GET /openapi.json`; this page is rendered
from the same document (defaults for the limits it names). Event payloads:
[api-events.md](api-events.md), views: [views.md](views.md), conversations:
[conversations.md](conversations.md).
"""


def markdown(doc: Doc) -> str:
    out = [HEADER, doc["info"]["description"], "", _access(doc), "## Endpoints", ""]
    out += ["| method | path | what |", "|---|---|---|"]
    ops = [(path, method, o) for path, item in doc["paths"].items() for method, o in item.items()]
    out += [f"| {m.upper()} | [`{p}`](#{_anchor(m, p)}) | {o['summary']} |" for p, m, o in ops]
    out.append("")
    for path, method, o in ops:
        out += _operation(path, method, o)
    out += ["## Schemas", ""]
    for name, schema in doc["components"]["schemas"].items():
        out += _schema(name, schema)
    return "\n".join(out).rstrip() + "\n"


def _access(doc: Doc) -> str:
    lines = ["## Access", "", "Declared ahead of enforcement (API keys land separately): each "
             "operation below says what it needs.", ""]  # fmt: skip
    for name, scheme in doc["components"]["securitySchemes"].items():
        lines.append(f"- `{name}`: {scheme['description']}")
    lines += ["", "Their errors: `401 unauthorized`, `403 forbidden`; `429 too_many_responses`"
              " (POST) and `429 too_many_connections` (streams), with `Retry-After`.",
              ""]  # fmt: skip
    return "\n".join(lines)


def _anchor(method: str, path: str) -> str:
    text = f"{method} {path}".lower()
    return "".join(c for c in text.replace(" ", "-") if c.isalnum() or c in "-_")


def _operation(path: str, method: str, o: Doc) -> list[str]:
    out = [f"## {method.upper()} {path}", "", f"**{o['summary']}.** {o['description']}", ""]
    security = o.get("security") or []
    if not security:
        needs = "none"
    elif security == [{API_KEY: []}]:
        needs = "an API key"
    else:
        needs = "a read token (header or `?token=`) or an API key"
    out += [f"Access: {needs}.", ""]
    if o.get("parameters"):
        out += ["| parameter | in | type | what |", "|---|---|---|---|"]
        for p in o["parameters"]:
            name = f"`{p['name']}`" + (" (required)" if p.get("required") else "")
            out.append(f"| {name} | {p['in']} | {_type(p['schema'])} | {p['description']} |")
        out.append("")
    body = o.get("requestBody")
    if body is not None:
        ((media, content),) = body["content"].items()
        out += [f"Body ({media}): {_type(content['schema'])}, example:", "", "```json",
                _json(content["example"]), "```", ""]  # fmt: skip
    out += ["| status | answer | codes |", "|---|---|---|"]
    for status, answer in o["responses"].items():
        content = answer.get("content", {})
        kinds = ", ".join(f"{m} {_body(m, c['schema'])}".strip() for m, c in content.items())
        codes = ", ".join(f"`{c}`" for c in codes_of(answer))
        desc = answer["description"] + (f" ({kinds})" if kinds and not codes else "")
        out.append(f"| {status} | {desc} | {codes} |")
    out.append("")
    for sample in o.get("x-codeSamples", []):
        out += ["```sh", sample["source"], "```", ""]
    return out


def _body(media: str, schema: Doc) -> str:
    if media != "text/event-stream":
        return _type(schema)
    frames = schema.get("anyOf", [schema])
    data = [f["properties"]["data"]["contentSchema"] for f in frames]
    return "events, `data:` " + " or ".join(_type(d) for d in data)


def _schema(name: str, schema: Doc) -> list[str]:
    out = [f"### {name}", ""]
    if schema.get("description"):
        out += [schema["description"], ""]
    props = schema.get("properties", {})
    if not props:
        return out + [f"{_type(schema)}", ""]
    required = set(schema.get("required", []))
    out += ["| field | type | what |", "|---|---|---|"]
    for field, sub in props.items():
        flag = " (required)" if field in required else ""
        out.append(f"| `{field}`{flag} | {_type(sub)} | {sub.get('description', '')} |")
    if schema.get("additionalProperties") is False:
        out += ["", "No other fields."]
    return out + [""]


def _type(s: Any) -> str:
    """A schema in a few words: `Name`, `a` \\| `b`, `string` (1-64, pattern), `[Item]`."""
    if not isinstance(s, dict) or not s:
        return "any"
    if "$ref" in s:
        name = s["$ref"].removeprefix(REF)
        return f"[{name}](#{name.lower()})"
    if "const" in s:
        return f"`{_json(s['const'])}`"
    if "enum" in s:
        return " \\| ".join(f"`{v}`" for v in s["enum"])
    for key in ("anyOf", "allOf"):
        if key in s:
            sep = " or " if key == "anyOf" else " and "
            return sep.join(_type(x) for x in s[key] if "required" in x or "type" in x
                            or "$ref" in x or "enum" in x or "const" in x) or "object"  # fmt: skip
    types = s.get("type", "object")
    kind: str = " or ".join(types) if isinstance(types, list) else types
    if kind == "object" and s.get("properties"):
        kind += " {" + ", ".join(f"`{p}`" for p in s["properties"]) + "}"
    if kind == "array":
        kind = f"[{_type(s.get('items'))}]"
    limits = [
        f"{s[a]}–{s[b]}"
        for a, b in (("minimum", "maximum"), ("minItems", "maxItems"), ("minLength", "maxLength"))
        if a in s and b in s
    ]
    limits += [
        f"≤ {s[b]}"
        for a, b in (("minItems", "maxItems"), ("minLength", "maxLength"))
        if b in s and a not in s
    ]
    if "pattern" in s:
        limits.append(f"`{s['pattern']}`".replace("|", "\\|"))
    return kind + (f" ({', '.join(limits)})" if limits else "")  # fmt: skip


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def render(settings: Settings | None = None) -> str:
    return markdown(document(settings or Settings()))
