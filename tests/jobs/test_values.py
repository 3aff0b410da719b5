"""Every number in a job, every numeric flag, and the request parameters batchbot reads: the
wrong type or range is exit 2 and one line naming the file, line and field (or the flag) and
what is allowed, before anything is sent, whatever the job's format and whether the run is a
dry run or a real one."""

from __future__ import annotations

import json

import pytest

from batchbot.config import Flags, resolve_config
from batchbot.errors import ConfigError
from batchbot.jobs.job import load_job
from batchbot.jobs.values import PARAMETERS, Range, checked, parameter_problem

TOKENS = "must be a whole number from 1 to 2,147,483,647"


def yaml_params(params: str) -> str:
    return f"model: gpt-4o-mini\nparams: {params}\nprompts: [hi]\n"


def jsonl(**params: object) -> str:
    line = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], **params}
    return json.dumps(line) + "\n"


def batch_line(**params: object) -> str:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], **params}
    return (
        json.dumps(
            {"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": body}
        )
        + "\n"
    )


def yaml_job(*lines: str) -> str:
    return "\n".join(("model: gpt-4o-mini", *lines, "prompts: [hi]")) + "\n"


EMBED = "model: text-embedding-3-small\nendpoint: /v1/embeddings"
N = "must be a whole number from 1 to 128"
ZERO_UP = "must be a number of 0 or more"
BAD = {
    "text": (
        "job.yaml",
        yaml_params("{max_tokens: 'abc'}"),
        f"job.yaml:2:22: params.max_tokens: {TOKENS}, not text",
    ),
    "mapping": ("job.yaml", yaml_params("{max_tokens: {a: 1}}"), f"{TOKENS}, not a mapping"),
    "quoted exponent": ("job.yaml", yaml_params("{max_tokens: '1e3'}"), f"{TOKENS}, not text"),
    "negative": (
        "job.yaml",
        yaml_params("{max_tokens: -9999999}"),
        f"params.max_tokens: {TOKENS}, not the number -9999999",
    ),
    "zero": (
        "job.yaml",
        yaml_params("{max_completion_tokens: 0}"),
        f"params.max_completion_tokens: {TOKENS}, not the number 0",
    ),
    "decimal for whole": (
        "job.yaml",
        yaml_params("{n: 2.0}"),
        f"job.yaml:2:13: params.n: {N}, not the number 2.0",
    ),
    "yes/no": ("job.yaml", yaml_params("{n: true}"), f"params.n: {N}, not true"),
    "too many choices": ("job.yaml", yaml_params("{n: 129}"), f"params.n: {N}, not the number 129"),
    "temperature": (
        "job.yaml",
        yaml_params("{temperature: 5}"),
        "params.temperature: must be a number from 0 to 2, not the number 5",
    ),
    "top_p": ("job.yaml", yaml_params("{top_p: -0.1}"), "top_p: must be a number from 0 to 1"),
    "penalty": (
        "job.yaml",
        yaml_params("{presence_penalty: 3}"),
        "params.presence_penalty: must be a number from -2 to 2",
    ),
    "logit bias value": (
        "job.yaml",
        yaml_params("{logit_bias: {'50256': 101}}"),
        "params.logit_bias.50256: must be a number from -100 to 100",
    ),
    "logit bias shape": (
        "job.yaml",
        yaml_params("{logit_bias: 3}"),
        "params.logit_bias: must be a mapping of token ids to numbers from -100 to 100",
    ),
    "huge seed": (
        "job.yaml",
        yaml_params("{seed: 99999999999999999999}"),
        "params.seed: must be a whole number from -9,223,372,036,854,775,808",
    ),
    "prompt's own params": (
        "job.yaml",
        "model: gpt-4o-mini\nprompts:\n  - hi\n  - {user: there, params: {max_tokens: -1}}\n",
        f"job.yaml:4:40: prompts[1].params.max_tokens: {TOKENS}, not the number -1",
    ),
    "infinite json": (
        "job.jsonl",
        jsonl().replace("}]}", '}], "max_tokens": 1e400}'),
        f"job.jsonl:1: max_tokens: {TOKENS}, not the number inf",
    ),
    "infinite json elsewhere": (
        "job.jsonl",
        jsonl().replace("}]}", '}], "prediction": {"k": [1, 2e999]}}'),
        "job.jsonl:1: prediction.k[1]: is too large a number (it reads as infinity)",
    ),
    "infinite json in a line's own metadata": (
        "job.jsonl",
        jsonl().replace("}]}", '}], "metadata": {"k": [1, 2e999]}}'),
        "job.jsonl:1: metadata: holds a number too large to keep (it reads as infinity)",
    ),
    "huge n": (
        "job.jsonl",
        jsonl().replace("}]}", '}], "n": 1e308}'),
        f"job.jsonl:1: n: {N}, not the number 1e+308",
    ),
    "batch line": (
        "job.jsonl",
        batch_line(max_tokens=-1),
        f"job.jsonl:1: body.max_tokens: {TOKENS}, not the number -1",
    ),
    "second line": (
        "job.jsonl",
        jsonl() + jsonl(temperature="hot"),
        "job.jsonl:2: temperature: must be a number from 0 to 2, not text",
    ),
    "responses floor": (
        "job.yaml",
        yaml_job("endpoint: /v1/responses", "params: {max_output_tokens: 8}"),
        "max_output_tokens: must be a whole number from 16 to 2,147,483,647, not the number 8",
    ),
    "embedding dimensions": (
        "job.yaml",
        f"{EMBED}\nparams: {{dimensions: 0}}\nprompts: [hi]\n",
        f"params.dimensions: {TOKENS}, not the number 0",
    ),
    "tools": (
        "job.jsonl",
        jsonl(tools=0.5),
        "job.jsonl:1: tools: must be a list of tools like [{type: function, function: {name: "
        "...}}], not the number 0.5",
    ),
    "a tool": (
        "job.yaml",
        yaml_params("{tools: [{type: function, function: {name: f}}, 7]}"),
        "params.tools[1]: must be a mapping like {type: function, function: {name: ...}}",
    ),
    "response format": (
        "job.yaml",
        yaml_params("{response_format: {type: json_schema, json_schema: 5}}"),
        "params.response_format.json_schema: must be a mapping like {name: ..., schema: {...}}",
    ),
    "response format type": (
        "job.jsonl",
        jsonl(response_format={}),
        "response_format.type: is missing: add it, text naming the format (text, json_object",
    ),
    "budget": (
        "job.yaml",
        yaml_job("budget_usd: -1"),
        f"job.yaml:2:13: budget_usd: {ZERO_UP}, not the number -1",
    ),
    "daily budget": (
        "job.yaml",
        yaml_job("budget_usd_per_day: '5'"),
        f"budget_usd_per_day: {ZERO_UP}, not text",
    ),
    "rpm": (
        "job.yaml",
        yaml_job("limits: {rpm: 0}"),
        "limits.rpm: must be a number greater than 0, not the number 0",
    ),
    "concurrency": (
        "job.yaml",
        yaml_job("limits: {concurrency: 1.5}"),
        "limits.concurrency: must be a whole number from 1 to 2,147,483,647, not the number 1.5",
    ),
    "price": (
        "job.yaml",
        "model: m\nprices: {m: {input: -1, output: 1}}\nprompts: [hi]\n",
        f"prices.m.input: {ZERO_UP}, not the number -1",
    ),
    "pack": (
        "job.yaml",
        f"{EMBED}\npack: 5000\nprompts: [hi]\n",
        "pack: must be a whole number from 1 to 2,048, not the number 5000",
    ),
    "re-asks": (
        "job.yaml",
        yaml_job("on_invalid: retry", "max_reasks: 0"),
        "job.yaml:3:13: max_reasks: must be a whole number from 1 to 100, not the number 0",
    ),
    "tokens cap": (
        "job.yaml",
        yaml_job("on_length: retry", "max_tokens_cap: 15000000000"),
        "job.yaml:3:17: max_tokens_cap: must be a whole number from 1 to 2,147,483,647, not "
        "the number 15000000000",
    ),
}


@pytest.mark.parametrize("mode", ["--dry-run", "--fake"])
@pytest.mark.parametrize(("name", "content", "message"), BAD.values(), ids=BAD.keys())
def test_a_number_out_of_range_is_one_line_and_exit_2(
    write_job, invoke, name, content, message, mode
):
    """Each bad number: exit 2, one line naming the file, line and field and what is allowed."""
    write_job(name, content)
    result = invoke("run", name, mode)
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"Error: {name}:")
    assert message in result.output
    assert "unexpected" not in result.output
    assert len(result.output.strip().splitlines()) == 1


FLAGS = {
    "--rpm": ("nan", "must be a number greater than 0, not the number nan"),
    "--tpm": ("-5", "must be a number greater than 0, not the number -5.0"),
    "--concurrency": ("100000000000", "must be a whole number from 1 to 2,147,483,647"),
    "--timeout": (
        "1e400",
        "must be a number greater than 0 and at most 1,000,000, not the number inf",
    ),
    "--max-attempts": ("2.5", "'2.5' is not a whole number from 1 to 1,000"),
    "--grace": ("-1", "must be a number from 0 to 1,000,000"),
    "--max-cost": ("inf", "must be a number of 0 or more, not the number inf"),
    "--max-cost-per-day": ("nan", "must be a number of 0 or more, not the number nan"),
    "--batch-queue-tokens": ("0", "must be a whole number from 1"),
    "--deadline": ("0", "must be a number greater than 0"),
    "--poll-interval": ("abc", "'abc' is not a number greater than 0"),
    "--outage-wait": ("-inf", "must be a number from 0 to 1,000,000, not the number -inf"),
    "--max-reasks": ("0", "must be a whole number from 1 to 100, not the number 0"),
    "--max-tokens-cap": ("1e9", "'1e9' is not a whole number from 1 to 2,147,483,647"),
}


@pytest.mark.parametrize(
    ("flag", "value", "message"), [(f, *v) for f, v in FLAGS.items()], ids=FLAGS.keys()
)
def test_a_numeric_flag_out_of_range_is_a_usage_error(write_job, invoke, flag, value, message):
    """NaN, infinities and values out of range for a flag are usage errors naming the flag."""
    write_job("job.yaml", "model: gpt-4o-mini\nparams: {max_tokens: 5}\nprompts: [hi]\n")
    result = invoke("run", "job.yaml", "--dry-run", flag, value)
    assert result.exit_code == 2, result.output
    assert f"Invalid value for '{flag}': {message}" in result.output


def test_runs_limit_is_bounded(invoke):
    """`runs -n` with more than SQLite can count is a usage error, not an internal one."""
    result = invoke("runs", "-n", "99999999999999999999999")
    assert result.exit_code == 2, result.output
    assert "must be a whole number from 1 to 2,147,483,647" in result.output


def test_library_settings_are_checked_too(write_job):
    """Settings given to the library (not through the command line) meet the same ranges."""
    job = load_job(write_job("job.yaml", "model: gpt-4o-mini\nprompts: [hi]\n"))
    with pytest.raises(
        ConfigError, match="max_cost_usd must be a number of 0 or more, not the number nan"
    ):
        resolve_config(job, Flags(max_cost_usd=float("nan")), {})
    with pytest.raises(ConfigError, match="max_reasks must be a whole number from 1 to 100"):
        resolve_config(job, Flags(max_reasks=101), {})
    with pytest.raises(ConfigError, match=r"params: max_tokens must be a whole number"):
        load_job(job.path, params={"max_tokens": "300"})


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"max_tokens": 300, "temperature": 0, "top_p": 1, "n": 128, "seed": -(2**63)}, None),
        ({"temperature": 2.0, "logit_bias": {"1": -100, "2": 100.0}, "stream": "anything"}, None),
        ({"max_tokens": None, "n": None}, None),  # null: the API's default
        ({"max_tokens": 2**31}, (("max_tokens",), f"{TOKENS}, not the number {2**31}")),
    ],
)
def test_parameter_problem(params, problem):
    """Values in range, null and parameters with no number pass; the first bad one is named."""
    assert parameter_problem(params) == problem


def test_every_range_reads_as_it_checks():
    """Each range's words agree with what it lets through at its edges."""
    for allowed in PARAMETERS.values():
        assert allowed.low is not None
        assert checked(int(allowed.low), allowed) == allowed.low
        if allowed.high is not None:
            with pytest.raises(ValueError, match=f"must be {allowed.words}"):
                checked(int(allowed.high) + 1, allowed)
    assert Range(low=0, low_open=True).words == "a number greater than 0"
    with pytest.raises(ValueError, match="not the number 0"):
        checked(0, Range(low=0, low_open=True))
