"""HTTP routes that drive a fake server from another process (a benchmark, a CLI session).

    POST /_fake/faults  {"fault": "503", "times": 2}   queue faults, as FakeServer.inject
    POST /_fake/limits  {"rpm": 500, "tpm": null}      as FakeServer.set_limits; also
                        "window_s", "windows" ("buckets" or "sliding"), "sliding_s",
                        "reported_rpm", "reported_tpm", "keep_usage",
                        "count" ("exact", "chars" or "x1.15": how TPM is charged),
                        "dialect" ("openai", "fixed-minute" or "none": the headers)
    POST /_fake/answers {"invalid": 0.1, "length": 0.05}  as FakeServer.quirks.set: the
                        shares of requests answered with invalid JSON, refused ("refusal")
                        or cut off ("length"); "seed" picks other requests
    POST /_fake/spend   {"requests": 10, "tokens": 0}  as FakeServer.spend (another client)
    POST /_fake/reset                                  as FakeServer.reset
    GET  /_fake/stats                                  FakeStats as JSON (status keys as strings),
                        "billed" included: tokens billed by model, killed clients' too
    GET  /_fake/timeline                               [[requests, tokens], ...] per second

Any other path answers the API's own 404, so a client with a wrong base URL learns it at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any, Protocol

import orjson
from aiohttp import web

from batchbot.fake import errors as fake_errors
from batchbot.fake.faults import check_fault
from batchbot.fake.quirks import AnswerQuirks

ANSWER_KEYS = ("invalid", "refusal", "length", "seed")


class Controlled(Protocol):
    """What these routes drive: `FakeServer`'s control methods."""

    @property
    def inject(self) -> Callable[[str, int], None]: ...
    @property
    def set_limits(self) -> Callable[..., None]: ...
    @property
    def quirks(self) -> AnswerQuirks: ...
    @property
    def spend(self) -> Callable[..., None]: ...
    @property
    def reset(self) -> Callable[[], None]: ...
    @property
    def timeline(self) -> Callable[[], list[list[int]]]: ...

    @property
    def stats(self) -> Any: ...


def control_routes(server: Controlled) -> list[web.RouteDef]:
    async def faults(request: web.Request) -> web.Response:
        data = await _json_object(request)
        try:
            server.inject(check_fault(str(data.get("fault"))), int(data.get("times", 1)))
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"ok": True})

    async def limits(request: web.Request) -> web.Response:
        data = await _json_object(request)
        try:
            server.set_limits(
                rpm=data.get("rpm"),
                tpm=data.get("tpm"),
                window_s=data.get("window_s"),
                windows=data.get("windows"),
                sliding_s=data.get("sliding_s"),
                reported_rpm=data.get("reported_rpm"),
                reported_tpm=data.get("reported_tpm"),
                keep_usage=bool(data.get("keep_usage")),
                dialect=data.get("dialect"),
                count=None if data.get("count") is None else str(data["count"]),
            )
        except (TypeError, ValueError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"ok": True})

    async def answers(request: web.Request) -> web.Response:
        data = await _json_object(request)
        try:
            server.quirks.set(**{key: data[key] for key in ANSWER_KEYS if key in data})
        except (TypeError, ValueError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"ok": True})

    async def spend(request: web.Request) -> web.Response:
        data = await _json_object(request)
        try:
            server.spend(requests=int(data.get("requests", 0)), tokens=int(data.get("tokens", 0)))
        except (TypeError, ValueError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"ok": True})

    async def timeline(request: web.Request) -> web.Response:
        return web.json_response(server.timeline())

    async def reset(request: web.Request) -> web.Response:
        server.reset()
        return web.json_response({"ok": True})

    async def stats(request: web.Request) -> web.Response:
        return web.json_response(asdict(server.stats))

    return [
        web.post("/_fake/faults", faults),
        web.post("/_fake/limits", limits),
        web.post("/_fake/answers", answers),
        web.post("/_fake/spend", spend),
        web.post("/_fake/reset", reset),
        web.get("/_fake/stats", stats),
        web.get("/_fake/timeline", timeline),
        web.route("*", "/{tail:.*}", _unknown_route),
    ]


async def _unknown_route(request: web.Request) -> web.Response:
    error = fake_errors.not_found_route(request.method, request.path)
    return web.json_response(error.body(), status=error.status)


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        data = orjson.loads(await request.read() or b"{}")
    except orjson.JSONDecodeError:
        raise web.HTTPBadRequest(text="expected a JSON object") from None
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text="expected a JSON object")
    return data
