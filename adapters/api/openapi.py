"""The OpenAPI 3.1 document of ``/api/v1``, built from its routes and the pydantic models that
validate its requests and shape its answers: nothing here is written twice."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from adapters.api.routes import PREFIX, Route

REF = "#/components/schemas/{model}"
_ERRORS = {
    400: "The request is malformed: a body that is not JSON, an unknown filter",
    401: "No token, or one that is not valid (revoked, or never made)",
    403: "The token's maker may not do this",
    404: "No such key result or objective in the token's workspace",
    422: "The values are not right, or the key result takes no check-ins (archived, or its cycle closed)",
    429: "Too many requests with this token; Retry-After says when to try again",
}


def document(routes: Sequence[Route], problem: type[BaseModel]) -> dict[str, Any]:
    answers: list[type[BaseModel]] = [problem, *dict.fromkeys(r.answer for r in routes)]
    bodies = [r.body for r in routes if r.body is not None]
    shapes = [(m, "serialization") for m in answers] + [(m, "validation") for m in bodies]
    _, schemas = models_json_schema(shapes, ref_template=REF)  # type: ignore[arg-type]
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(PREFIX + route.path, {})[route.method.lower()] = _operation(route, problem)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "okrbot API",
            "version": "1",
            "description": "Read a workspace's OKRs and post check-ins. A token is made in the chat with "
            "`token add <name>` (admins) and acts with its maker's rights.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": schemas.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "okr_… from token add"}},
        },
    }


def _operation(route: Route, problem: type[BaseModel]) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = []
    if route.ref:
        parameters.append({
            "name": "ref", "in": "path", "required": True,
            "schema": {"type": "string", "pattern": f"^{route.ref}-[0-9]{{1,9}}$", "examples": [f"{route.ref}-7"]},
        })  # fmt: skip
    if route.query is not None:
        shape = route.query.model_json_schema()
        for name, field in route.query.model_fields.items():
            schema = {k: v for k, v in shape["properties"][name].items() if k not in ("description", "title")}
            parameter = {"name": name, "in": "query", "required": field.is_required(), "schema": schema}
            if field.description:
                parameter["description"] = field.description
            parameters.append(parameter)
    if route.body is not None:
        parameters.append({
            "name": "Idempotency-Key", "in": "header", "required": False,
            "description": "A retry with the same key (within 24 hours) records nothing more and gets the first answer",
            "schema": {"type": "string", "minLength": 1, "maxLength": 255},
        })  # fmt: skip
    operation: dict[str, Any] = {
        "summary": route.summary,
        "operationId": _operation_id(route),
        "parameters": parameters,
        "responses": {
            str(route.status): {
                "description": "Recorded" if route.status == 201 else "OK",
                "content": {"application/json": {"schema": {"$ref": REF.format(model=route.answer.__name__)}}},
            },
            **{
                str(status): {
                    "description": why,
                    "content": {"application/problem+json": {"schema": {"$ref": REF.format(model=problem.__name__)}}},
                }
                for status, why in _ERRORS.items()
                if (route.body is not None or status != 422 or route.query is not None)
            },
        },
    }
    if route.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": REF.format(model=route.body.__name__)}}},
        }
    return operation


def _operation_id(route: Route) -> str:
    words = [w for w in route.path.replace("{ref}", "one").replace("-", " ").replace("/", " ").split()]
    return route.method.lower() + "".join(w.capitalize() for w in words)
