"""The reply in the shapes clients ask for: JSON (``response_format``), a forced function call,
and the text with a numbered source list appended.

The structured reply is one JSON object (:func:`structured_reply`): the answer text, intent,
enterprise, evidence, recommendation, unverified claims. ``json_object`` returns it as is;
``json_schema`` (and a ``tool_choice`` that forces one function, the way LangChain's
``with_structured_output`` works) fills the client's schema from it: each property is matched
by name (``answer``/``text``/``content``…, ``evidence``/``sources``…, ``recommendation``…).
A schema with a required property the reply cannot fill is refused with 400 before anything
is answered or stored.

>>> plan = SchemaPlan.of({"type": "object", "properties": {"answer": {"type": "string"}},
...                       "required": ["answer"]})
>>> plan.fill({"answer": "好的", "evidence": []})
{'answer': '好的'}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from finassist.assistant import Reply
from finassist.serve.errors import ApiError

SOURCES_HEAD = "\n\n来源："
MAX_SOURCE_TEXT_CHARS = 80
MAX_REF_DEPTH = 8
# Reply field -> property names (lower case) that mean it.
FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "answer": (
        "answer",
        "text",
        "content",
        "reply",
        "response",
        "message",
        "output",
        "result",
        "summary",
        "回答",
        "答案",
        "内容",
    ),
    "evidence": ("evidence", "sources", "citations", "references", "证据", "来源"),
    "recommendation": ("recommendation", "product", "推荐"),
    "intent": ("intent", "意图"),
    "enterprise_id": ("enterprise_id", "company_id", "企业编号"),
    "session_id": ("session_id",),
    "clarification": ("clarification", "needs_clarification", "is_clarification"),
    "unverified": ("unverified", "unverified_claims"),
}
EVIDENCE_ALIASES: dict[str, tuple[str, ...]] = {
    "n": ("n", "index", "number", "no", "编号"),
    "id": ("id", "evidence_id"),
    "kind": ("kind", "type"),
    "source": ("source", "title", "name", "来源"),
    "text": ("text", "content", "quote", "snippet", "内容"),
}
_EMPTY: dict[str, Any] = {"string": "", "array": [], "object": {}, "boolean": False}


def structured_reply(reply: Reply) -> dict[str, Any]:
    """The reply as one JSON object (what ``response_format: json_object`` returns)."""
    data = reply.to_json()
    return {
        "answer": reply.text,
        "intent": reply.intent,
        "enterprise_id": reply.enterprise_id,
        "clarification": reply.clarification,
        "evidence": [
            {"n": n, "id": e["id"], "kind": e["kind"], "source": e["source"], "text": e["text"]}
            for n, e in enumerate(data["evidence"], start=1)
        ],
        "recommendation": data["recommendation"],
        "unverified": list(reply.unverified),
        "session_id": reply.session_id,
    }


def sources_block(reply: Reply) -> str:
    """The numbered source list appended to the text (empty when nothing was cited)."""
    if not reply.evidence:
        return ""
    lines = []
    for n, item in enumerate(reply.evidence, start=1):
        text = item.text.replace("\n", " ")
        if len(text) > MAX_SOURCE_TEXT_CHARS:
            text = text[:MAX_SOURCE_TEXT_CHARS] + "…"
        lines.append(f"[{n}] {item.source}：{text}")
    return SOURCES_HEAD + "\n" + "\n".join(lines)


def _resolve(schema: Any, root: dict[str, Any], depth: int = 0) -> dict[str, Any]:
    """``schema`` with ``$ref`` followed and ``anyOf``/``oneOf`` with null reduced to the rest."""
    if not isinstance(schema, dict) or depth > MAX_REF_DEPTH:
        return {}
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        return _resolve(target, root, depth + 1)
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list):
            rest = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")]
            if len(rest) == 1:
                return {**_resolve(rest[0], root, depth + 1), "_nullable": len(rest) < len(options)}
    return schema


def _type_of(schema: dict[str, Any]) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        return kinds[0] if kinds else None
    return kind if isinstance(kind, str) else None


def _nullable(schema: dict[str, Any]) -> bool:
    kind = schema.get("type")
    return bool(schema.get("_nullable")) or (isinstance(kind, list) and "null" in kind)


def _match(name: str, aliases: dict[str, tuple[str, ...]]) -> str | None:
    low = name.lower()
    for field, names in aliases.items():
        if low in names:
            return field
    return None


@dataclass(frozen=True)
class SchemaPlan:
    """Which reply field fills each property of a JSON schema (object at the top)."""

    properties: dict[str, tuple[str, dict[str, Any]]]  # property -> (reply field, its schema)
    root: dict[str, Any]

    @classmethod
    def of(cls, schema: dict[str, Any], *, param: str = "response_format") -> SchemaPlan:
        """The plan for ``schema``; 400 when a required property cannot be filled."""
        top = _resolve(schema, schema)
        if _type_of(top) not in ("object", None) or not isinstance(top.get("properties"), dict):
            raise ApiError(
                400,
                "JSON Schema 的顶层应为带 properties 的 object。",
                code="unsupported_schema",
                param=param,
            )
        props: dict[str, Any] = top["properties"]
        required = [r for r in top.get("required") or [] if isinstance(r, str)]
        plan: dict[str, tuple[str, dict[str, Any]]] = {}
        for name, prop in props.items():
            field = _match(name, FIELD_ALIASES)
            if field is not None:
                plan[name] = (field, _resolve(prop, schema))
        # One required text property with a name of its own takes the answer.
        unmatched = [
            n
            for n in required
            if n not in plan and _type_of(_resolve(props.get(n), schema)) == "string"
        ]
        if "answer" not in {f for f, _ in plan.values()} and len(unmatched) == 1:
            plan[unmatched[0]] = ("answer", _resolve(props[unmatched[0]], schema))
        missing = [n for n in required if n not in plan]
        if missing:
            known = "、".join(names[0] for names in FIELD_ALIASES.values())
            raise ApiError(
                400,
                f"无法按该 JSON Schema 作答：必填字段 {'、'.join(missing[:5])} 不是助手能给出的内容。"
                f"助手能填写的字段：{known}（或一个任意名称的文本字段）。",
                code="unsupported_schema",
                param=param,
            )
        return cls(plan, schema)

    def fill(self, data: dict[str, Any]) -> dict[str, Any]:
        """The object for the client's schema, from :func:`structured_reply`'s ``data``."""
        return {
            name: self._value(data.get(field), field, schema)
            for name, (field, schema) in self.properties.items()
        }

    def _value(self, value: Any, field: str, schema: dict[str, Any]) -> Any:
        kind = _type_of(schema)
        if value is None:
            return None if _nullable(schema) or kind is None else _EMPTY.get(kind)
        if field == "evidence":
            return self._evidence(value, schema)
        if kind == "string" and not isinstance(value, str):
            return ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        if kind == "array" and not isinstance(value, list):
            return [value]
        return value

    def _evidence(self, items: list[dict[str, Any]], schema: dict[str, Any]) -> Any:
        lines = [f"[{e['n']}] {e['source']}：{e['text']}" for e in items]
        kind = _type_of(schema)
        if kind == "string":
            return "\n".join(lines)
        item_schema = _resolve(schema.get("items"), self.root)
        if _type_of(item_schema) != "object" or not isinstance(item_schema.get("properties"), dict):
            return lines
        out = []
        for item in items:
            row = {}
            for name in item_schema["properties"]:
                key = _match(name, EVIDENCE_ALIASES)
                row[name] = item.get(key) if key else None
            out.append(row)
        return out
