"""The fake server's Models API: the models it serves, as the API lists them.

    GET /v1/models            {"object": "list", "data": [model objects]}
    GET /v1/models/{model}    one model object, or the API's 404 model_not_found

A model is there when some endpoint of the fake answers requests for it (`known.serves`): a
model of its chat, Responses or embeddings table, or a dated snapshot, variant or fine-tune of
one. The list holds the base names, as a key with no fine-tunes sees them. Both routes want a
key, as the API's do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from batchbot.fake import errors as fake_errors
from batchbot.fake import known
from batchbot.fake.errors import ApiError

CREATED = 1_700_000_000  # one fixed creation time: the fake's models never change


def model_object(model: str) -> dict[str, Any]:
    owner = model.split(":")[2] if model.startswith("ft:") and model.count(":") >= 2 else "system"
    return {"id": model, "object": "model", "created": CREATED, "owned_by": owner or "system"}


def model_routes(authorize: Callable[[web.Request], object]) -> list[web.RouteDef]:
    """The two routes; `authorize` raises the API's 401 for a request without a key."""

    async def listed(request: web.Request) -> web.Response:
        try:
            authorize(request)
        except ApiError as error:
            return web.json_response(error.body(), status=error.status)
        names = sorted(known.served())
        return web.json_response({"object": "list", "data": [model_object(m) for m in names]})

    async def one(request: web.Request) -> web.Response:
        model = request.match_info["model"]
        try:
            authorize(request)
            if not known.serves(model):
                raise fake_errors.model_not_found(model)
        except ApiError as error:
            return web.json_response(error.body(), status=error.status)
        return web.json_response(model_object(model))

    return [web.get("/v1/models", listed), web.get("/v1/models/{model:.+}", one)]
