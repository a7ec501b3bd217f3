"""The published OpenAPI document says what the API really answers, errors included.

Every error leaves Seawall as ``{code, message, detail?}`` (see :mod:`seawall.api.errors`), but FastAPI
documents its own validation body for 422 and nothing for the other failures. This rewrites the
generated document once: each 422 points at the real error body, and every operation declares that
body for any other 4xx and 5xx it may answer (authentication, limits, an unexpected failure), so
clients and contract tests can rely on the shape of every response.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from seawall.api.declared import fill_registry_names
from seawall.api.schemas import ErrorBody

ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}
_FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ERROR_REF}}}


def _hoist_local_defs(node: Any, schemas: dict[str, Any]) -> Any:
    """``node`` with every ``$defs`` moved into the components and its ``#/$defs/…`` references pointed there.

    A request body given by hand (``openapi_extra``, for routes that validate the raw body themselves) is a
    model's standalone JSON Schema, whose references say ``#/$defs/Locator``. Inside the OpenAPI document
    ``#`` is the document's root, where no ``$defs`` exists: clients and contract tests could not resolve
    the nested models and skipped those parts of the body.
    """
    if isinstance(node, list):
        return [_hoist_local_defs(v, schemas) for v in node]
    if not isinstance(node, dict):
        return node
    for name, sub in (node.pop("$defs", None) or {}).items():
        schemas.setdefault(name, _hoist_local_defs(sub, schemas))
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        node["$ref"] = "#/components/schemas/" + ref.removeprefix("#/$defs/")
    return {k: _hoist_local_defs(v, schemas) for k, v in node.items()}


def truthful_errors(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with the real error body on every 422 and as every operation's 4XX/5XX answer, and every
    schema's references resolvable from the document's root."""
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    doc["paths"] = _hoist_local_defs(doc.get("paths", {}), schemas)
    schemas["ErrorBody"] = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    for path_item in doc.get("paths", {}).values():
        for method, op in path_item.items():
            if method not in _METHODS:
                continue
            responses = op.setdefault("responses", {})
            if "422" in responses:
                responses["422"] = _error_response("The request is invalid: `code` says how, `message` in a "
                                                   "sentence, `detail` lists each field for a schema violation")
            responses.setdefault("4XX", _error_response("Refused: `code` and `message` say why"))
            responses.setdefault("5XX", _error_response("Failed or unavailable: `code` and `message` say why"))
    for name in _FASTAPI_VALIDATION:
        schemas.pop(name, None)
    return doc


def install(app: FastAPI) -> None:
    """Serve the rewritten document at ``/openapi.json`` (and to ``/docs``), with the names the app's
    registry knows (signal types, events, exchanges, actions: plugins add some) in place."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = truthful_errors(get_openapi(
                title=app.title, version=app.version, openapi_version=app.openapi_version,
                description=app.description, routes=app.routes))
            app.openapi_schema = fill_registry_names(doc, app.state.engine.registry)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
