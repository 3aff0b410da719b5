"""The errors the fake server answers with, worded and shaped as OpenAI words and shapes them.

Every error is `{"error": {"message", "type", "param", "code"}}`; clients (and batchbot's retry
policy) tell errors apart by status plus `code` or `type`, so those are copied exactly. Request
validation lives here too: it only decides which of these errors a body deserves.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from batchbot.fake import known

KEYS_URL = "https://platform.openai.com/account/api-keys"
FAKE_KEY = "sk-fake-batchbot"  # what `--fake` sends; the fake takes any key but quotes it in 401s
ROLES = ("system", "assistant", "user", "function", "tool", "developer")
# Reasoning models: they think in hidden tokens, and refuse some classic parameters.
REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")
MAX_CHOICES = 128
# Sampling parameters and the ranges the API accepts.
DECIMAL_RANGES = {
    "temperature": (0.0, 2.0),
    "top_p": (0.0, 1.0),
    "presence_penalty": (-2.0, 2.0),
    "frequency_penalty": (-2.0, 2.0),
}

MISSING_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header "
    "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with "
    "blank username) if you're accessing the API from your browser and are prompted for a "
    f"username and password. You can obtain an API key from {KEYS_URL}."
)
BAD_JSON = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using "
    "your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was "
    "not valid JSON. If you have trouble figuring out how to fix this, please contact us through "
    "our help center at help.openai.com.)"
)
QUOTA = (
    "You exceeded your current quota, please check your plan and billing details. For more "
    "information on this error, read the docs: "
    "https://platform.openai.com/docs/guides/error-codes/api-errors."
)
RESOURCE_UNAVAILABLE = (
    "Resource unavailable: there is not enough Flex processing capacity for this request right "
    "now. Retry it later, with backoff, or send it at the default service tier."
)
SERVICE_TIERS = ("auto", "default", "flex", "priority", "fast", "scale")
SERVER_ERRORS = {
    500: "The server had an error while processing your request. Sorry about that!",
    502: "Bad gateway.",
    503: "The server is overloaded or not ready yet.",
}


class ApiError(Exception):
    """An HTTP error answer: status, OpenAI's error object, and any extra headers."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = {"message": message, "type": type, "param": param, "code": code}
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {"error": self.error}


def is_reasoning_model(model: str) -> bool:
    return model.startswith(REASONING_PREFIXES) and not model.startswith("gpt-5-chat")


def missing_key() -> ApiError:
    return ApiError(401, MISSING_KEY)


def invalid_key(key: str) -> ApiError:
    # OpenAI echoes a redacted key; keep the redaction at least as strong as theirs.
    shown = f"{key[:3]}{'*' * max(4, len(key) - 7)}{key[-4:]}" if len(key) > 10 else "***"
    message = f"Incorrect API key provided: {shown}. You can find your API key at {KEYS_URL}."
    return ApiError(401, message, code="invalid_api_key")


def forbidden() -> ApiError:
    return ApiError(
        403,
        "Country, region, or territory not supported",
        type="request_forbidden",
        code="unsupported_country_region_territory",
    )


def insufficient_quota() -> ApiError:
    return ApiError(429, QUOTA, type="insufficient_quota", code="insufficient_quota")


def resource_unavailable() -> ApiError:
    """Flex processing's 429 when it has no capacity: not billed, and not a rate limit."""
    return ApiError(
        429, RESOURCE_UNAVAILABLE, type="resource_unavailable", code="resource_unavailable"
    )


def flex_not_offered(model: str) -> ApiError:
    message = f"Flex processing is not available for model '{model}'."
    return ApiError(400, message, param="service_tier", code="unsupported_value")


def check_service_tier(body: Mapping[str, Any]) -> None:
    value = body.get("service_tier")
    if value is not None and value not in SERVICE_TIERS:
        supported = ", ".join(f"'{tier}'" for tier in SERVICE_TIERS)
        text = f"Invalid value: '{value}'. Supported values are: {supported}."
        raise ApiError(400, text, param="service_tier", code="invalid_value")


def unrecognized_argument(name: str) -> ApiError:
    return ApiError(400, f"Unrecognized request argument supplied: {name}")


def model_not_found(model: str) -> ApiError:
    message = f"The model `{model}` does not exist or you do not have access to it."
    return ApiError(404, message, code="model_not_found")


def context_length_exceeded(window: int, tokens: int) -> ApiError:
    message = (
        f"This model's maximum context length is {window} tokens. However, your messages "
        f"resulted in {tokens} tokens. Please reduce the length of the messages."
    )
    return ApiError(400, message, param="messages", code="context_length_exceeded")


def server_error(status: int) -> ApiError:
    return ApiError(status, SERVER_ERRORS[status], type="server_error")


def rate_limited(message: str, kind: str, wait: float, *, hint: bool) -> ApiError:
    """A 429 rate_limit_exceeded; `hint` adds the retry-after headers some deployments send."""
    headers = {}
    if hint and not math.isinf(wait):
        headers = {
            "retry-after-ms": str(math.ceil(wait * 1000)),
            "retry-after": str(max(1, math.ceil(wait))),
        }
    return ApiError(429, message, type=kind, code="rate_limit_exceeded", headers=headers)


def not_found_route(method: str, path: str) -> ApiError:
    return ApiError(404, f"Invalid URL ({method} {path})")


def bad_json() -> ApiError:
    return ApiError(400, BAD_JSON)


def _type_name(value: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    names |= {list: "an array", dict: "an object", type(None): "null"}
    return names.get(type(value), "an unsupported value")


def _invalid_type(param: str, expected: str, value: object) -> ApiError:
    got = _type_name(value)
    message = f"Invalid type for '{param}': expected {expected}, but got {got} instead."
    return ApiError(400, message, param=param, code="invalid_type")


def _missing(param: str) -> ApiError:
    message = f"Missing required parameter: '{param}'."
    return ApiError(400, message, param=param, code="missing_required_parameter")


def _check_message(index: int, message: object) -> None:
    where = f"messages[{index}]"
    if not isinstance(message, dict):
        raise _invalid_type(where, "an object", message)
    if "role" not in message:
        raise _missing(f"{where}.role")
    if message["role"] not in ROLES:
        supported = ", ".join(f"'{role}'" for role in ROLES[:-1]) + f", and '{ROLES[-1]}'"
        text = f"Invalid value: '{message['role']}'. Supported values are: {supported}."
        raise ApiError(400, text, param=f"{where}.role", code="invalid_value")
    # Only an assistant turn may omit content (it may carry tool calls instead).
    if message.get("content") is None and message["role"] != "assistant":
        raise _missing(f"{where}.content")


def _check_decimal(body: Mapping[str, Any], param: str, low: float, high: float) -> None:
    value = body.get(param)
    if value is None:
        return
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise _invalid_type(param, "a decimal", value)
    if low <= value <= high:
        return
    above = value > high
    side, sign, bound = ("above maximum", "<=", high) if above else ("below minimum", ">=", low)
    message = (
        f"Invalid '{param}': decimal {side} value. Expected a value {sign} {bound:g}, "
        f"but got {value:g} instead."
    )
    code = "decimal_above_max_value" if above else "decimal_below_min_value"
    raise ApiError(400, message, param=param, code=code)


def _check_positive(body: Mapping[str, Any], param: str) -> None:
    value = body.get(param)
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool):
        raise _invalid_type(param, "an integer", value)
    if value < 1:
        message = (
            f"Invalid '{param}': integer below minimum value. Expected a value >= 1, "
            f"but got {value} instead."
        )
        raise ApiError(400, message, param=param, code="integer_below_min_value")


def check_tools(body: Mapping[str, Any]) -> None:
    """`tools` (or `functions`) and `response_format` shaped as the API insists, as far as
    the fake reads them: lists of objects, each function an object, its schema objects."""
    for param in ("tools", "functions"):
        tools = body.get(param)
        if tools is None:
            continue
        if not isinstance(tools, list):
            raise _invalid_type(param, "an array", tools)
        for index, tool in enumerate(tools):
            if not isinstance(tool, dict):
                raise _invalid_type(f"{param}[{index}]", "an object", tool)
            function = tool.get("function", tool) if param == "tools" else tool
            where = f"{param}[{index}].function" if "function" in tool else f"{param}[{index}]"
            if not isinstance(function, dict):
                raise _invalid_type(where, "an object", function)
            _check_objects(function, where, "parameters", "properties")
    response_format = body.get("response_format")
    if response_format is not None:
        if not isinstance(response_format, dict):
            raise _invalid_type("response_format", "an object", response_format)
        _check_objects(response_format, "response_format", "json_schema", "schema")


def _check_objects(value: dict[str, Any], where: str, *path: str) -> None:
    """Each of `path`, where present, an object: `parameters`, then its `properties`, ..."""
    for key in path:
        if key not in value or value[key] is None:
            return
        where, value = f"{where}.{key}", value[key]
        if not isinstance(value, dict):
            raise _invalid_type(where, "an object", value)
    if path and path[-1] == "properties":
        for name, spec in value.items():
            if not isinstance(spec, dict):
                raise _invalid_type(f"{where}.{name}", "an object", spec)


METADATA_KEYS = 16
METADATA_KEY_CHARS = 64
METADATA_VALUE_CHARS = 512


def check_metadata(body: Mapping[str, Any], *, needs_store: bool) -> None:
    """`metadata` as the API takes it: at most 16 string keys of up to 64 characters, each
    with a string value of up to 512; Chat Completions takes it only with `store: true`."""
    metadata = body.get("metadata")
    if metadata is None:
        return
    if needs_store and body.get("store") is not True:
        message = "The 'metadata' parameter is only allowed when 'store' is enabled."
        raise ApiError(400, message, param="metadata")
    if not isinstance(metadata, dict):
        raise _invalid_type("metadata", "an object", metadata)
    if len(metadata) > METADATA_KEYS:
        message = (
            f"Invalid 'metadata': too many properties. Expected an object with at most "
            f"{METADATA_KEYS} properties, but got an object with {len(metadata)} properties "
            "instead."
        )
        raise ApiError(400, message, param="metadata", code="object_above_max_properties")
    for key, value in metadata.items():
        if len(key) > METADATA_KEY_CHARS:
            message = (
                f"Invalid 'metadata': string too long. Expected a key with maximum length "
                f"{METADATA_KEY_CHARS}, but got a key with length {len(key)} instead."
            )
            raise ApiError(400, message, param="metadata", code="string_above_max_length")
        if not isinstance(value, str):
            raise _invalid_type(f"metadata.{key}", "a string", value)
        if len(value) > METADATA_VALUE_CHARS:
            message = (
                f"Invalid 'metadata.{key}': string too long. Expected a string with maximum "
                f"length {METADATA_VALUE_CHARS}, but got a string with length {len(value)} "
                "instead."
            )
            raise ApiError(400, message, param=f"metadata.{key}", code="string_above_max_length")


def unknown_parameter(name: str) -> ApiError:
    """The Responses API's words for a parameter it does not have."""
    message = f"Unknown parameter: '{name}'."
    return ApiError(400, message, param=name, code="unknown_parameter")


def _check_reasoning_params(body: Mapping[str, Any]) -> None:
    if body.get("max_tokens") is not None:
        message = (
            "Unsupported parameter: 'max_tokens' is not supported with this model. "
            "Use 'max_completion_tokens' instead."
        )
        raise ApiError(400, message, param="max_tokens", code="unsupported_parameter")
    temperature = body.get("temperature")
    if temperature is not None and temperature != 1:
        message = (
            f"Unsupported value: 'temperature' does not support {temperature} with this model. "
            "Only the default (1) value is supported."
        )
        raise ApiError(400, message, param="temperature", code="unsupported_value")


def validate(body: object) -> dict[str, Any]:
    """The body as a dict if it is a request the API would accept, else the API's 400."""
    if not isinstance(body, dict):
        raise bad_json()
    if "model" not in body:
        raise ApiError(400, "you must provide a model parameter", param="model")
    if not isinstance(body["model"], str):
        raise _invalid_type("model", "a string", body["model"])
    for name in known.unknown_parameters(known.CHAT, body):
        raise unrecognized_argument(name)
    messages = body.get("messages")
    if messages is None:
        raise _missing("messages")
    if not isinstance(messages, list):
        raise _invalid_type("messages", "an array", messages)
    if not messages:
        message = (
            "Invalid 'messages': empty array. Expected an array with minimum length 1, "
            "but got an empty array instead."
        )
        raise ApiError(400, message, param="messages", code="empty_array")
    for index, message in enumerate(messages):
        _check_message(index, message)
    for param in ("n", "max_tokens", "max_completion_tokens"):
        _check_positive(body, param)
    for param, (low, high) in DECIMAL_RANGES.items():
        _check_decimal(body, param, low, high)
    check_tools(body)
    check_metadata(body, needs_store=True)
    check_service_tier(body)
    if (body.get("n") or 1) > MAX_CHOICES:
        text = f"Invalid 'n': integer above maximum value. Expected a value <= {MAX_CHOICES}."
        raise ApiError(400, text, param="n", code="integer_above_max_value")
    if is_reasoning_model(body["model"]):
        _check_reasoning_params(body)
    return body
