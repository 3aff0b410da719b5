"""Mutated job files, end to end: a valid YAML or JSONL job, changed at random (text cut,
doubled or replaced, a value swapped for a hostile one), is checked, estimated and run against
the fake API. Whatever comes out is an answer, a failed item or a one-line error with an exit
code; never an internal error, a traceback or a hang.

The suite runs a few hundred mutations; `BATCHBOT_FUZZ_EXAMPLES=5000 python -m pytest
tests/scenarios/test_fuzz_jobs.py` runs more (tests/jobs/test_jobs.py fuzzes the parsers alone).
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchbot.jobs.values import PARAMETERS as RANGES

EXAMPLES = int(os.environ.get("BATCHBOT_FUZZ_EXAMPLES", "250"))
SENT = "a fake run"  # also send some of them: what passes the checks must run cleanly too

YAML_SEEDS = [
    """\
name: faq
model: gpt-4o-mini
system: Be brief.
params: {temperature: 0.7, max_tokens: 30, n: 1, top_p: 1, seed: 7}
tier: tier-1
limits: {rpm: 500, tpm: 200000, concurrency: 4}
budget_usd: 2.0
budget_usd_per_day: 5
prices: {gpt-4o-mini: {input: 0.15, output: 0.6}}
prompts:
  - What is a chatbot?
  - {id: key-safety, user: "How do I keep my API key safe?", params: {max_tokens: 20}}
  - {id: multi, messages: [{role: user, content: Hi}, {role: assistant, content: Hello!},
      {role: user, content: [{type: text, text: Bye}]}]}
""",
    """\
model: gpt-4o-mini
params:
  max_completion_tokens: 40
  logit_bias: {"50256": -100}
  tools:
    - type: function
      function: {name: lookup, description: Find a word, parameters: {type: object,
        properties: {word: {type: string}}, required: [word]}}
  tool_choice: none  # an answer that calls a tool has no JSON text: invalid for the format
  response_format: {type: json_schema, json_schema: {name: answer, schema: {type: object,
    properties: {text: {type: string}}}}}
prompts:
  - {id: tool, user: Look up serendipity}
  - {id: image, messages: [{role: user, content: [{type: text, text: "What is it?"},
      {type: image_url, image_url: {url: "https://example.com/a.png", detail: low}}]}]}
""",
    """\
model: gpt-4o-mini
endpoint: /v1/responses
system: Answer in one line.
params: {max_output_tokens: 64, temperature: 1}
prompts: [Hello there, {id: two, user: And again}]
""",
    """\
model: text-embedding-3-small
endpoint: /v1/embeddings
pack: 2
params: {dimensions: 8}
prompts: [one, two, three]
""",
    """\
model: gpt-4o-mini
template: "Answer briefly: {question}"
inputs: questions.csv
params: {max_tokens: 16}
""",
]
JSONL_SEEDS = [
    '{"id": "q1", "model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}], '
    '"max_tokens": 20, "temperature": 0.2}\n'
    '{"model": "gpt-4o-mini", "messages": [{"role": "system", "content": "Be brief"}, '
    '{"role": "user", "content": "Why?"}], "n": 2, "max_tokens": 10}\n',
    '{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {"model": '
    '"gpt-4o-mini", "messages": [{"role": "user", "content": "One"}], "max_tokens": 15}}\n'
    '{"custom_id": "b", "method": "POST", "url": "/v1/chat/completions", "body": {"model": '
    '"gpt-4o-mini", "messages": [{"role": "user", "content": "Two"}], "seed": 3}}\n',
]
QUESTIONS = 'id,question\nq1,What is a token?\nq2,"Why, then?"\n'

# What a mutation may put in: numbers the API refuses, wrong types, YAML and JSON syntax,
# control characters and odd Unicode.
PIECES = [
    "-1", "0", "1e400", "1e308", "-1e400", "nan", ".nan", ".inf", "-.inf", "NaN", "Infinity",
    "99999999999999999999", "2147483648", "0.5", "1.0", "'abc'", '"1e3"', "null", "~",
    "true", "yes", "[]", "{}", "{a: 1}", "[1, [2]]", '"\\e[2J"', '"\\u001b]0;x\\u0007"',
    "&a x", "*a", "<<: *a", "!!binary aGk=", "!!python/name:os.system", "? ", ": ", "- ",
    "\n", "  ", "\t", "#", '"', "'", "{", "}", "[", "]", ",", "\\", "\x00", "\x1b", "\ufeff",
    "é", "\U0001f600", "\u202e", "%", "@", "`", "|", ">", "2020-01-01", "0x1F", "0o17",
    "max_tokens", "n", "temperature", "messages", "model", "params", "prompts", "role",
    "content", "tools", "image_url", "detail", "url", "body", "custom_id", "method",
]  # fmt: skip
# Values the API refuses where a number belongs, and other types no field expects.
NASTY = [
    "abc", "1e3", "", -9999999, -1, 0, 2.0, 0.5, 1e308, -1e308, 2**70, 2**31, True, False,
    None, {"a": 1}, [], [1, [2]], "\x1b]0;x\x07", "\ud800", "gpt-4o-mini", "user", "text",
]  # fmt: skip
PARAMETERS = [*sorted(RANGES), "logit_bias", "stream", "tools", "response_format", "stop"]
NUMBER = r"-?\b\d+(?:\.\d+)?\b"
HOSTILE_VALUES = st.sampled_from(NASTY) | st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6)
    | st.sampled_from(["gpt-4o-mini", "user", "assistant", "text", "image_url", "low", "auto"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(PIECES[60:]) | st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def text_mutation(draw: st.DrawFn, text: str) -> str:
    """Cut, double or replace a stretch of the text, put a piece in, or change a number."""
    numbers = list(re.finditer(NUMBER, text))
    if numbers and draw(st.integers(0, 2)) == 0:
        found = draw(st.sampled_from(numbers))
        piece = draw(st.sampled_from(PIECES[:20]))
        return text[: found.start()] + piece + text[found.end() :]
    start = draw(st.integers(0, len(text)))
    end = draw(st.integers(start, min(len(text), start + 12)))
    kind = draw(st.sampled_from(["cut", "double", "replace", "insert"]))
    if kind == "cut":
        return text[:start] + text[end:]
    if kind == "double":
        return text[:end] + text[start:end] + text[end:]
    piece = draw(st.sampled_from(PIECES))
    return text[:start] + piece + text[end if kind == "replace" else start :]


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a document a value sits, the document itself included."""
    found = [path]
    children = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, child in children:
        found += _paths(child, (*path, key))
    return found


def _at(doc: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        doc = doc[key]
    return doc


@st.composite
def value_mutation(draw: st.DrawFn, doc: Any) -> Any:
    """Swap one value of a parsed document (a leaf, most often) for a hostile one, or drop it."""
    paths = _paths(doc)[1:]
    leaves = [path for path in paths if not isinstance(_at(doc, path), dict | list)]
    path = draw(st.sampled_from((leaves if leaves and draw(st.integers(0, 4)) else paths) or [()]))
    if not path:
        return draw(HOSTILE_VALUES)
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    if draw(st.booleans()) and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(HOSTILE_VALUES)
    return doc


@st.composite
def parameter_mutation(draw: st.DrawFn, doc: Any, jsonl: bool) -> Any:
    """Set one request parameter (a numeric one, most often) to a hostile value."""
    name = draw(st.sampled_from(PARAMETERS) | st.sampled_from(PIECES[60:]))
    value = draw(HOSTILE_VALUES)
    if jsonl:
        line = draw(st.sampled_from(doc)) if isinstance(doc, list) and doc else doc
        target = line.get("body", line) if isinstance(line, dict) else None
    else:
        target = doc.setdefault("params", {}) if isinstance(doc, dict) else None
    if isinstance(target, dict):
        target[name] = value
    return doc


@st.composite
def mutated_job(draw: st.DrawFn) -> tuple[str, str]:
    """(file name, text): a seed job changed one to four times, by text, value or parameter."""
    jsonl = draw(st.booleans())
    seed = draw(st.sampled_from(JSONL_SEEDS if jsonl else YAML_SEEDS))
    name = "job.jsonl" if jsonl else "job.yaml"
    text = seed
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["text", "value", "parameter"]))
        if kind == "text":
            text = draw(text_mutation(text))
            continue
        mutate = value_mutation if kind == "value" else lambda doc: parameter_mutation(doc, jsonl)
        try:
            if jsonl:
                lines = [json.loads(line) for line in text.splitlines() if line.strip()]
                lines = draw(mutate(lines))
                lines = lines if isinstance(lines, list) else [lines]
                text = "".join(json.dumps(line) + "\n" for line in lines)
            else:
                text = yaml.safe_dump(draw(mutate(yaml.safe_load(text))))
        except (ValueError, yaml.YAMLError):  # an earlier text mutation broke it: fine
            text = draw(text_mutation(text))
    return name, text


ALLOWED_EXITS = {"--dry-run": {0, 2}, SENT: {0, 1, 2, 3}}


@pytest.mark.slow
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(job=mutated_job(), send=st.integers(0, 3))
def test_a_mutated_job_runs_or_says_why(tmp_path_factory, invoke, fake_api, job, send):
    """Checked, estimated and (one time in four) run: an exit code and a clean message."""
    fake_api.reset()
    folder: Path = tmp_path_factory.mktemp("fuzz", numbered=True)
    name, text = job
    (folder / name).write_text(text, encoding="utf-8", errors="surrogatepass")
    (folder / "questions.csv").write_text(QUESTIONS, encoding="utf-8")
    modes = ["--dry-run"] + ([SENT] if send == 0 else [])
    for mode in modes:
        extra = (
            ["--base-url", fake_api.url, "--db", str(folder / "b.db")] if mode == SENT else [mode]
        )
        started = time.monotonic()
        # BATCHBOT_RAISE_ERRORS is set: an unexpected error raises here and fails the test.
        result = invoke("run", str(folder / name), *extra)
        assert time.monotonic() - started < 30, "a hang"
        assert result.exit_code in ALLOWED_EXITS[mode], result.output
        assert "Traceback" not in result.output
        assert "unexpected error" not in result.output, result.output
        assert "please report it" not in result.output.lower(), result.output
        if result.exit_code == 2:  # the job must change: never advice to resume
            assert "resume" not in result.output, result.output
            if result.output.startswith("Error: "):  # before anything was sent
                assert len(result.output.strip().splitlines()) == 1, result.output
            else:  # a run that met it (the server refused the model): one line says why
                assert "\nbatchbot: " in result.output, result.output


@pytest.mark.parametrize("seed", [*YAML_SEEDS, *JSONL_SEEDS])
def test_the_seeds_are_valid_jobs(tmp_path, invoke, fake_api, seed):
    """Every seed runs as it is, so what the mutations find is theirs."""
    name = "job.jsonl" if seed.startswith("{") else "job.yaml"
    (tmp_path / name).write_text(seed, encoding="utf-8")
    (tmp_path / "questions.csv").write_text(QUESTIONS, encoding="utf-8")
    result = invoke("run", name, "--base-url", fake_api.url)
    assert result.exit_code == 0, result.output
