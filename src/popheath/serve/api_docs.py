"""The API's documentation as a plain server-rendered page built from the OpenAPI schema (works offline).

FastAPI's default ``/docs`` loads Swagger UI from a CDN, which neither works offline nor passes the
content security policy (``serve/headers.py``); this page lists the same operations without any script.
"""

from __future__ import annotations

from typing import Any


def operations(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per documented path and method: summary, description, parameters, body and responses."""
    found = []
    for path, methods in schema.get("paths", {}).items():
        for method, spec in methods.items():
            body = spec.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
            found.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "summary": spec.get("summary", ""),
                    "description": spec.get("description", ""),
                    "parameters": [
                        {
                            "name": p["name"],
                            "in": p["in"],
                            "required": p.get("required", False),
                            "type": _type(p.get("schema", {})),
                        }
                        for p in spec.get("parameters", [])
                    ],
                    "body": _ref_name(body),
                    "responses": sorted(spec.get("responses", {})),
                }
            )
    return found


def models(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """Request bodies: each field with its type and description."""
    out = []
    for name, spec in schema.get("components", {}).get("schemas", {}).items():
        if name in ("HTTPValidationError", "ValidationError"):
            continue
        required = set(spec.get("required", []))
        out.append(
            {
                "name": name,
                "fields": [
                    {
                        "name": field,
                        "type": _type(detail),
                        "required": field in required,
                        "description": detail.get("description", ""),
                    }
                    for field, detail in spec.get("properties", {}).items()
                ],
            }
        )
    return out


def _ref_name(schema: dict[str, Any]) -> str | None:
    ref = schema.get("$ref")
    return str(ref).rsplit("/", 1)[-1] if ref else None


def _type(schema: dict[str, Any]) -> str:
    if "anyOf" in schema:
        return " or ".join(_type(option) for option in schema["anyOf"])
    if "$ref" in schema:
        return str(_ref_name(schema))
    kind = str(schema.get("type", "any"))
    return f"{kind} ({schema['format']})" if "format" in schema else kind
