"""Export the JSON Schemas of every contract and judge whether a change breaks consumers.

A change is breaking when, under the same type name (same major version), a field is
removed or renamed, a field's type changes, or a new required field appears. Publish a new
major version (a new type name, `...v2`) instead.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from contracts.registry import envelope_schema, registered_types

SCHEMA_DIR = Path(__file__).parent / "schemas"


def current_schemas() -> dict[str, dict[str, Any]]:
    """The envelope schema of every registered type, by type name."""
    return {name: envelope_schema(model) for name, model in sorted(registered_types().items())}


def render(schema: dict[str, Any]) -> str:
    """Stable text form, as committed under `contracts/schemas/`."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def export(directory: Path = SCHEMA_DIR) -> list[Path]:
    """Write one `<type name>.json` per registered type; returns the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in current_schemas().items():
        path = directory / f"{name}.json"
        path.write_text(render(schema))
        written.append(path)
    return written


def committed_schemas(directory: Path = SCHEMA_DIR) -> dict[str, dict[str, Any]]:
    """The schemas as committed, by type name."""
    return {path.stem: json.loads(path.read_text()) for path in sorted(directory.glob("*.json"))}


def breaking_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Every way `new` breaks a consumer or producer written against `old`."""
    problems: list[str] = []
    _compare(old, old, new, new, "", problems)
    return problems


def _resolve(schema: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = document.get("$defs", {})[name]
    return schema


def _kinds(schema: dict[str, Any], document: dict[str, Any]) -> set[str]:
    schema = _resolve(schema, document)
    if "anyOf" in schema or "oneOf" in schema:
        options = schema.get("anyOf", schema.get("oneOf", []))
        return set().union(*(_kinds(option, document) for option in options))
    if "const" in schema:
        return {f"const:{schema['const']}"}
    if "enum" in schema:
        return {f"enum:{value}" for value in schema["enum"]}
    kind = schema.get("type", "any")
    return set(kind) if isinstance(kind, list) else {kind}


def _compare(
    old: dict[str, Any],
    old_doc: dict[str, Any],
    new: dict[str, Any],
    new_doc: dict[str, Any],
    path: str,
    problems: list[str],
) -> None:
    old = _resolve(old, old_doc)
    new = _resolve(new, new_doc)
    old_kinds, new_kinds = _kinds(old, old_doc), _kinds(new, new_doc)
    if old_kinds != new_kinds and not (old_kinds <= new_kinds and _only_widened(old_kinds)):
        problems.append(
            f"{path or '<root>'}: type changed from {sorted(old_kinds)} to {sorted(new_kinds)}"
        )
        return
    old_properties = old.get("properties", {})
    new_properties = new.get("properties", {})
    for name, old_property in old_properties.items():
        where = f"{path}.{name}" if path else name
        if name not in new_properties:
            problems.append(f"{where}: field removed or renamed")
            continue
        _compare(old_property, old_doc, new_properties[name], new_doc, where, problems)
    for name in sorted(set(new.get("required", [])) - set(old.get("required", []))):
        where = f"{path}.{name}" if path else name
        problems.append(f"{where}: new required field")
    if "items" in old and "items" in new:
        _compare(old["items"], old_doc, new["items"], new_doc, f"{path}[]", problems)


def _only_widened(kinds: set[str]) -> bool:
    # Adding a member to an enum or a union is compatible for readers that tolerate it;
    # changing a plain type (string -> integer) never is.
    return all(kind.startswith(("enum:", "const:")) or kind == "null" for kind in kinds)
