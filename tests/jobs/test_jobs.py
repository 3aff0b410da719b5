"""Job files in, Items out: every form, every override, and every error message, exactly."""

from __future__ import annotations

import hashlib
import inspect
import json
import random
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchbot.errors import ConfigError, JobFileError
from batchbot.jobs import job as jobs
from batchbot.jobs import yamlfile as jobfile_yaml
from batchbot.jobs.job import Item, JobSettings, Limits, load_job, request_hash

EXAMPLES = Path(__file__).resolve().parents[2] / "jobs"
SYSTEM = {"role": "system", "content": "Be brief."}


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def body(*messages: dict[str, Any], model: str = "gpt-4o-mini", **params: Any) -> dict[str, Any]:
    return {"model": model, "messages": list(messages), **params}


def hashed(line: int, request: dict[str, Any]) -> Item:
    """The Item a prompt without an id becomes."""
    digest = request_hash(request)
    return Item(digest[:16], request, digest, line)


def named(item_id: str, line: int, request: dict[str, Any]) -> Item:
    return Item(item_id, request, request_hash(request), line)


@pytest.fixture
def write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Write files into a fresh directory and work there, so messages show short paths."""
    monkeypatch.chdir(tmp_path)

    def write_files(files: dict[str, str | bytes]) -> Path:
        """Write each file; the first one named is the job."""
        for name, content in files.items():
            data = content if isinstance(content, bytes) else content.encode("utf-8")
            (tmp_path / name).write_bytes(data)
        return Path(next(iter(files), "."))

    return write_files


GOOD = {
    "plain strings get the job's system and params": (
        {
            "job.yaml": (
                "model: gpt-4o-mini\nsystem: Be brief.\nparams: {temperature: 0.7}\n"
                "prompts:\n  - What is a chatbot?\n  - What are tokens?\n"
            )
        },
        {},
        [
            hashed(5, body(SYSTEM, user("What is a chatbot?"), temperature=0.7)),
            hashed(6, body(SYSTEM, user("What are tokens?"), temperature=0.7)),
        ],
    ),
    "id and user, with the prompt's own system and params winning": (
        {
            "job.yaml": (
                "model: gpt-4o-mini\nsystem: Be brief.\nparams: {temperature: 0.7, n: 1}\n"
                "prompts:\n"
                "  - {id: key, user: Keep keys safe, system: Be kind., params: {temperature: 0}}\n"
                "  - {id: 7, user: Hi}\n"
            )
        },
        {},
        [
            named(
                "key",
                5,
                body(
                    {"role": "system", "content": "Be kind."},
                    user("Keep keys safe"),
                    temperature=0,
                    n=1,
                ),
            ),
            named("7", 6, body(SYSTEM, user("Hi"), temperature=0.7, n=1)),
        ],
    ),
    "messages that open with a system or developer message keep it": (
        {
            "job.yaml": (
                "model: gpt-4o-mini\nsystem: Be brief.\nprompts:\n"
                "  - id: multi\n    messages:\n"
                "      - {role: system, content: Be long.}\n"
                "      - {role: user, content: Hi}\n"
                "      - {role: assistant, content: Hello!}\n"
                "      - {role: user, content: Bye}\n"
                "  - messages: [{role: developer, content: Terse.}, {role: user, content: Go}]\n"
                "  - messages: [{role: user, content: [{type: text, text: Look}]}]\n"
            )
        },
        {},
        [
            named(
                "multi",
                4,
                body(
                    {"role": "system", "content": "Be long."},
                    user("Hi"),
                    {"role": "assistant", "content": "Hello!"},
                    user("Bye"),
                ),
            ),
            hashed(10, body({"role": "developer", "content": "Terse."}, user("Go"))),
            hashed(
                11, body(SYSTEM, {"role": "user", "content": [{"type": "text", "text": "Look"}]})
            ),
        ],
    ),
    "CLI model and params win over the job's": (
        {
            "job.yaml": (
                "model: gpt-4o-mini\nparams: {temperature: 0.7, max_tokens: 300}\n"
                "prompts:\n  - {user: Hi, params: {temperature: 1}}\n"
            )
        },
        {"model": "gpt-4.1", "params": {"temperature": 0.2}},
        [hashed(4, body(user("Hi"), model="gpt-4.1", temperature=0.2, max_tokens=300))],
    ),
    "the CLI model is enough when the job has none": (
        {"job.yml": "prompts: [Hi]\n"},
        {"model": "gpt-4.1"},
        [hashed(1, body(user("Hi"), model="gpt-4.1"))],
    ),
    "anchors, aliases and merge keys share settings": (
        {
            "job.yaml": (
                "model: gpt-4o-mini\nprompts:\n"
                "  - {id: a, user: One, params: &p {temperature: 0, seed: 1}}\n"
                "  - {id: b, user: Two, params: {<<: *p, seed: 2}}\n"
            )
        },
        {},
        [
            named("a", 3, body(user("One"), temperature=0, seed=1)),
            named("b", 4, body(user("Two"), temperature=0, seed=2)),
        ],
    ),
    "a UTF-8 BOM and non-ASCII text are fine": (
        {"job.yaml": "\ufeffmodel: gpt-4o-mini\nprompts:\n- Qu'est-ce qu'un jeton ? 🙂\n"},
        {},
        [hashed(3, body(user("Qu'est-ce qu'un jeton ? 🙂")))],
    ),
    "template over CSV rows: id column, quoted commas, literal braces, line of each row": (
        {
            "job.yaml": (
                "model: gpt-4o-mini\nsystem: Be brief.\n"
                'template: "Answer {{briefly}} ({topic}): {question}"\ninputs: rows.csv\n'
            ),
            "rows.csv": 'id,topic,question\nq1,keys,"Safe, how?"\n\nq2,"multi\nline",Why?\n',
        },
        {},
        [
            named("q1", 2, body(SYSTEM, user("Answer {briefly} (keys): Safe, how?"))),
            named("q2", 4, body(SYSTEM, user("Answer {briefly} (multi\nline): Why?"))),
        ],
    ),
    "template over JSONL rows; a row without id gets the hash": (
        {
            "job.yaml": "model: gpt-4o-mini\ntemplate: 'Q: {q}'\ninputs: rows.jsonl\n",
            "rows.jsonl": '{"id": 5, "q": "Hi"}\n\n{"q": 3}\n',
        },
        {},
        [named("5", 1, body(user("Q: Hi"))), hashed(3, body(user("Q: 3")))],
    ),
    "JSONL chat lines: model from the line, else the CLI; params pass through": (
        {
            "job.jsonl": (
                '{"id": "a", "messages": [{"role": "user", "content": "Hi"}], "temperature": 0}\n'
                "\n"
                '{"model": "gpt-4.1", "messages": [{"role": "user", "content": "Yo"}]}\n'
            )
        },
        {"model": "gpt-4o-mini"},
        [
            named("a", 1, body(user("Hi"), temperature=0)),
            hashed(3, body(user("Yo"))),
        ],
    ),
    "Batch API lines: custom_id is the id, the CLI model and params win": (
        {
            "job.jsonl": json.dumps(
                {
                    "custom_id": "req-1",
                    "method": "POST",
                    "url": "/v1/chat/completions",
                    "body": {"model": "gpt-4.1", "messages": [user("Hi")], "max_tokens": 9},
                }
            )
            + "\n"
        },
        {"model": "gpt-4o-mini", "params": {"max_tokens": 5}},
        [named("req-1", 1, body(user("Hi"), max_tokens=5))],
    ),
}


@pytest.mark.parametrize(("files", "overrides", "expected"), GOOD.values(), ids=GOOD.keys())
def test_good_files(
    write: Any, files: dict[str, str], overrides: dict[str, Any], expected: list[Item]
) -> None:
    """Every job form turns into exactly the expected ids, bodies, hashes and lines."""
    job = load_job(write(files), **overrides)
    assert job.validate() == len(expected)
    assert list(job.items()) == expected


YAML_HINT = (
    "check the indentation, and quote text that contains ': ' or ' #', "
    "or '?' or ',' inside {...} or [...]"
)
JOB_KEYS = (
    "budget_usd, budget_usd_per_day, cache, endpoint, extra_params, inputs, limits, max_reasks, "
    "max_tokens_cap, mode, model, name, on_invalid, on_length, pack, params, price_as, prices, "
    "prompts, schema, system, template, tier, token_count"
)
ROLES = "assistant, developer, system, tool, user"
NO_CONTENT = "has no content: add content: with the message's text"
REFUSED_PARAM = (
    "the API refuses every request that has it, so nothing was sent. If your server takes it, "
    "pass --allow-param {name} (or, in a YAML job, put it under extra_params:)"
)
TEMPLATE_JOB = "model: m\ntemplate: '{q}'\ninputs: q.csv\n"
CHAT = "/v1/chat/completions"
EMBEDDER = "text-embedding-3-small"


def batch_line(custom_id: str = "a", **fields: Any) -> str:
    """One Batch API line; `fields` replace its method, url or body."""
    line = {"custom_id": custom_id, "method": "POST", "url": CHAT, "body": {}} | fields
    return json.dumps(line) + "\n"


def chat_line(content: str = "a", **fields: Any) -> str:
    """One of our own JSONL lines; `fields` are added to it."""
    return json.dumps({"model": "m", "messages": [user(content)], **fields}) + "\n"


BAD = {
    # reading the file
    "file missing": (
        {},
        "nope.yaml",
        "nope.yaml: no such file: check the path and the current directory",
    ),
    "not a job file": (
        {"job.txt": "hi"},
        None,
        "job.txt: is not a job file: use .yaml or .yml (settings + prompts) or .jsonl (requests)",
    ),
    "not UTF-8 (YAML)": (
        {"job.yaml": b"model: m\nprompts: [caf\xe9]\n"},
        None,
        "job.yaml:2:14: byte 0xe9 at offset 22 is not UTF-8: save the file as UTF-8",
    ),
    "not UTF-8 (JSONL, second line)": (
        {"job.jsonl": chat_line().encode() + b"\xff\n"},
        None,
        "job.jsonl:2:1: byte 0xff at offset 63 is not UTF-8: save the file as UTF-8",
    ),
    # YAML syntax
    "broken YAML": (
        {"job.yaml": "model: gpt-4o-mini\nprompts:\n  - a: b: c\n"},
        None,
        f"job.yaml:3:9: invalid YAML: mapping values are not allowed here; {YAML_HINT}",
    ),
    "unquoted ? in a flow mapping": (
        {"job.yaml": "model: m\nprompts: [{user: Safe?}]\n"},
        None,
        "job.yaml:2:22: invalid YAML: expected ',' or '}', but got '?' "
        f"(while parsing a flow mapping); {YAML_HINT}",
    ),
    "unclosed [": (
        {"job.yaml": "model: m\nprompts:\n  - one\n  - [two\n  - three\n"},
        None,
        "job.yaml:4:5: invalid YAML: the [ opened here is never closed: the file ends first; "
        f"{YAML_HINT}",
    ),
    "unclosed quote": (
        {"job.yaml": 'model: m\nprompts:\n  - "one\n  - two\n'},
        None,
        "job.yaml:3:5: invalid YAML: the quote opened here is never closed: the file ends "
        f"first; {YAML_HINT}",
    ),
    "unclosed [ before the next key": (
        {"job.yaml": "model: m\nprompts: [one, two\nparams: {x: 1}\n"},
        None,
        "job.yaml:2:10: invalid YAML: the [ opened here is never closed: expected ',' or ']', "
        f"but got ':' at line 3; {YAML_HINT}",
    ),
    "two YAML documents": (
        {"job.yaml": "model: m\n---\nprompts: [a]\n"},
        None,
        "job.yaml:2:1: invalid YAML: but found another document "
        f"(expected a single document in the stream); {YAML_HINT}",
    ),
    "control character": (
        {"job.yaml": "model: m\nprompts: [a\x07]\n"},
        None,
        "job.yaml:2: invalid YAML: character U+0007 is not allowed; remove it",
    ),
    "empty file": (
        {"job.yaml": "# nothing yet\n"},
        None,
        "job.yaml: the job file is empty: add model: and prompts: (or template: + inputs:)",
    ),
    "top level is a list": (
        {"job.yaml": "- What is a chatbot?\n"},
        None,
        "job.yaml:1:1: the top level must be a mapping of settings like model: and prompts:, "
        "not a list",
    ),
    "duplicate key": (
        {"job.yaml": "model: m\nprompts: [a]\nmodel: n\n"},
        None,
        "job.yaml:3:1: model: duplicate key (first on line 1): keep one",
    ),
    "a date where text was meant": (
        {"job.yaml": "model: m\nprompts:\n  - {id: 2024-01-01, user: Hi}\n"},
        None,
        "job.yaml:3:10: prompts[0].id: '2024-01-01' reads as a date: quote it to make it text",
    ),
    "infinite number": (
        {"job.yaml": "model: m\nparams: {temperature: .inf}\nprompts: [Hi]\n"},
        None,
        "job.yaml:2:23: params.temperature: .inf is not a usable number: quote it for text",
    ),
    "python tag": (
        {"job.yaml": "model: !!python/name:os.system m\nprompts: [Hi]\n"},
        None,
        "job.yaml:1:8: model: unsupported YAML tag !!python/name:os.system: remove it",
    ),
    "alias inside itself": (
        {"job.yaml": "model: m\nparams: &p {x: *p}\nprompts: [Hi]\n"},
        None,
        "job.yaml:2:9: params.x: an alias (*) refers to the value it is inside",
    ),
    # settings
    "unknown key with a suggestion": (
        {"job.yaml": "model: m\npromts: [a]\n"},
        None,
        f"job.yaml:2:1: promts: unknown key; did you mean 'prompts'?; valid keys: {JOB_KEYS}",
    ),
    "a misspelt parameter at the top level": (
        {"job.yaml": "model: m\ntemprature: 0.7\nprompts: [a]\n"},
        None,
        "job.yaml:2:1: temprature: unknown key; did you mean params: {temperature: ...}?; "
        f"valid keys: {JOB_KEYS}",
    ),
    "a parameter at the top level": (
        {"job.yaml": "model: m\nmax_tokens: 300\nprompts: [a]\n"},
        None,
        "job.yaml:2:1: max_tokens: is a request parameter: put it under params:, as in "
        "params: {max_tokens: 300}",
    ),
    "a parameter beside a prompt": (
        {"job.yaml": "model: m\nprompts:\n  - {user: hi, max_tokens: 5}\n"},
        None,
        "job.yaml:3:16: prompts[0].max_tokens: is a request parameter: put it under params:, "
        "as in params: {max_tokens: 5}",
    ),
    "missing model": (
        {"job.yaml": "prompts: [Hi]\n"},
        None,
        "job.yaml: model: no model: add model: to the job file, or pass --model",
    ),
    "model of the wrong type": (
        {"job.yaml": "model: 4\nprompts: [Hi]\n"},
        None,
        "job.yaml:1:8: model: must be text, not the number 4",
    ),
    "an unknown parameter in params": (
        {"job.yaml": "model: m\nparams: {max_token: 50}\nprompts: [Hi]\n"},
        None,
        "job.yaml:2:10: params.max_token: is not a parameter of Chat Completions (did you mean "
        f"'max_tokens'?): {REFUSED_PARAM.format(name='max_token')}",
    ),
    "an unknown parameter in a prompt's params": (
        {"job.yaml": "model: m\nprompts:\n  - {user: Hi, params: {temprature: 0}}\n"},
        None,
        "job.yaml:3:25: prompts[0].params.temprature: is not a parameter of Chat Completions (did "
        f"you mean 'temperature'?): {REFUSED_PARAM.format(name='temprature')}",
    ),
    "an unknown parameter of the Responses API": (
        {"job.yaml": "model: m\nendpoint: /v1/responses\nparams: {max_tokens: 9}\nprompts: [Hi]\n"},
        None,
        "job.yaml:3:10: params.max_tokens: is not a parameter of the Responses API: "
        + REFUSED_PARAM.format(name="max_tokens"),
    ),
    "an unknown parameter in a JSONL line": (
        {"job.jsonl": chat_line() + chat_line("b", top_k=40)},
        None,
        "job.jsonl:2: top_k: is not a parameter of Chat Completions (did you mean 'top_p'?): "
        + REFUSED_PARAM.format(name="top_k"),
    ),
    "an unknown parameter in a Batch API body": (
        {"job.jsonl": batch_line(body={"model": "m", "messages": [user("a")], "max_token": 1})},
        None,
        "job.jsonl:1: body.max_token: is not a parameter of Chat Completions (did you mean "
        f"'max_tokens'?): {REFUSED_PARAM.format(name='max_token')}",
    ),
    "an embeddings parameter the API does not have": (
        {"job.jsonl": json.dumps({"model": EMBEDDER, "input": "a", "dimension": 8}) + "\n"},
        None,
        "job.jsonl:1: dimension: is not a parameter of the embeddings API (did you mean "
        f"'dimensions'?): {REFUSED_PARAM.format(name='dimension')}",
    ),
    "a known parameter in extra_params": (
        {"job.yaml": "model: m\nextra_params: {top_k: 4, seed: 1}\nprompts: [Hi]\n"},
        None,
        "job.yaml:2:26: extra_params.seed: is a parameter of Chat Completions: put it under "
        "params:",
    ),
    "params not a mapping": (
        {"job.yaml": "model: m\nparams: [temperature]\nprompts: [Hi]\n"},
        None,
        "job.yaml:2:9: params: must be a mapping, not a list",
    ),
    "model inside params": (
        {"job.yaml": "model: m\nparams: {model: n}\nprompts: [Hi]\n"},
        None,
        "job.yaml:2:10: params.model: is not a parameter: write model: outside params",
    ),
    "limits out of range": (
        {"job.yaml": "model: m\nlimits: {rpm: 0}\nprompts: [Hi]\n"},
        None,
        "job.yaml:2:15: limits.rpm: must be a number greater than 0, not the number 0",
    ),
    "concurrency not whole": (
        {"job.yaml": "model: m\nlimits:\n  concurrency: 2.5\nprompts: [Hi]\n"},
        None,
        "job.yaml:3:16: limits.concurrency: must be a whole number from 1 to 2,147,483,647, not "
        "the number 2.5",
    ),
    "budget as text": (
        {"job.yaml": "model: m\nbudget_usd: $2\nprompts: [Hi]\n"},
        None,
        "job.yaml:2:13: budget_usd: must be a number of 0 or more, not text",
    ),
    "unknown mode": (
        {"job.yaml": "model: m\nmode: batched\nprompts: [Hi]\n"},
        None,
        "job.yaml:2:7: mode: 'batched' is not one of auto, batch, flex, sync; "
        "did you mean 'batch'?",
    ),
    "price without output": (
        {"job.yaml": "model: m\nprices:\n  m: {input: 0.15}\nprompts: [Hi]\n"},
        None,
        "job.yaml:3:6: prices.m: has no output price: add output: in USD per million tokens",
    ),
    "negative price": (
        {"job.yaml": "model: m\nprices: {m: {input: -1, output: 1}}\nprompts: [Hi]\n"},
        None,
        "job.yaml:2:21: prices.m.input: must be a number of 0 or more, not the number -1",
    ),
    # prompts
    "no prompts at all": (
        {"job.yaml": "model: m\n"},
        None,
        "job.yaml: no prompts: add prompts: or template: + inputs:",
    ),
    "an empty prompts list": (
        {"job.yaml": "model: m\nprompts: []\n"},
        None,
        "job.yaml:2:10: prompts: no prompts: add prompts: or template: + inputs:",
    ),
    "unknown prompt key": (
        {"job.yaml": "model: m\nprompts:\n  - {id: a, usr: Hi}\n"},
        None,
        "job.yaml:3:13: prompts[0].usr: unknown key; did you mean 'user'?; "
        "valid keys: id, messages, params, system, user",
    ),
    "prompt of the wrong type": (
        {"job.yaml": "model: m\nprompts:\n  - Hi\n  - 42\n"},
        None,
        "job.yaml:4:5: prompts[1]: must be text (one user message) or a mapping with user: "
        "or messages:, not the number 42",
    ),
    "yes is not text": (
        {"job.yaml": "model: m\nprompts:\n  - {user: yes}\n"},
        None,
        "job.yaml:3:12: prompts[0].user: must be text, "
        "not true (a yes/no value; quote it to make it text)",
    ),
    "empty prompt": (
        {"job.yaml": "model: m\nprompts:\n  - Hi\n  - ''\n"},
        None,
        "job.yaml:4:5: prompts[1]: is an empty prompt: write the question, or remove it",
    ),
    "user and messages both": (
        {"job.yaml": "model: m\nprompts:\n  - {user: Hi, messages: [{role: user, content: Hi}]}\n"},
        None,
        "job.yaml:3:5: prompts[0]: give either user: (one question) or messages: "
        "(a conversation), not both",
    ),
    "neither user nor messages": (
        {"job.yaml": "model: m\nprompts:\n  - {id: a}\n"},
        None,
        "job.yaml:3:5: prompts[0]: needs user: (one question) or messages: (a conversation)",
    ),
    "bad role": (
        {"job.yaml": "model: m\nprompts:\n  - messages:\n      - {role: usr, content: Hi}\n"},
        None,
        f"job.yaml:4:16: prompts[0].messages[0].role: 'usr' is not one of {ROLES}; "
        "did you mean 'user'?",
    ),
    "role of the wrong type": (
        {"job.yaml": "model: m\nprompts:\n- messages: [{role: user, content: Hi},\n  {role: 1}]\n"},
        None,
        "job.yaml:4:10: prompts[0].messages[1].role: must be text, not the number 1",
    ),
    "message without content": (
        {"job.yaml": "model: m\nprompts:\n  - messages: [{role: user}]\n"},
        None,
        f"job.yaml:3:16: prompts[0].messages[0]: {NO_CONTENT}",
    ),
    "message without role": (
        {"job.yaml": "model: m\nprompts:\n  - messages: [{content: Hi}]\n"},
        None,
        f"job.yaml:3:16: prompts[0].messages[0]: has no role: add role: with one of {ROLES}",
    ),
    "empty messages": (
        {"job.yaml": "model: m\nprompts:\n  - messages: []\n"},
        None,
        "job.yaml:3:15: prompts[0].messages: is empty: give at least one message, "
        "like {role: user, content: Hello}",
    ),
    "two system messages": (
        {"job.yaml": "model: m\nprompts:\n- {system: A, messages: [{role: system, content: B}]}\n"},
        None,
        "job.yaml:3:12: prompts[0].system: the messages already open with one: keep one of the two",
    ),
    "duplicate ids in YAML": (
        {
            "job.yaml": "model: m\nprompts:\n  - {id: a, user: One}\n  - {id: b, user: Two}\n"
            "  - {id: a, user: Three}\n"
        },
        None,
        "job.yaml:5: duplicate id 'a': line 3 has it too; give each item its own id",
    ),
    "the same prompt twice": (
        {"job.yaml": "model: m\nprompts:\n  - Hi\n  - Hi\n"},
        None,
        "job.yaml:4: the same request as line 3: remove one, or give each an id",
    ),
    # template + inputs
    "prompts and template both": (
        {"job.yaml": "model: m\nprompts: [a]\ntemplate: '{q}'\ninputs: q.csv\n"},
        None,
        "job.yaml:3:1: template: give prompts: or template: + inputs:, not both",
    ),
    "template without inputs": (
        {"job.yaml": "model: m\ntemplate: '{q}'\n"},
        None,
        "job.yaml:1:1: inputs: template: and inputs: go together: add the other",
    ),
    "inputs file missing": (
        {"job.yaml": TEMPLATE_JOB},
        None,
        "job.yaml:3:9: inputs: q.csv not found: the path is relative to the job file",
    ),
    "inputs of another kind": (
        {"job.yaml": "model: m\ntemplate: '{q}'\ninputs: q.xlsx\n"},
        None,
        "job.yaml:3:9: inputs: q.xlsx must be a .csv or .jsonl file",
    ),
    "template with a stray brace": (
        {"job.yaml": "model: m\ntemplate: 'a {q'\ninputs: q.csv\n", "q.csv": "q\nx\n"},
        None,
        "job.yaml:2:11: template: expected '}' before end of string: "
        "write {{ and }} for literal braces",
    ),
    "template with an attribute": (
        {"job.yaml": "model: m\ntemplate: '{q.upper}'\ninputs: q.csv\n", "q.csv": "q\nx\n"},
        None,
        "job.yaml:2:11: template: {q.upper} is not a column name: "
        "put a column name in braces, like {question}",
    ),
    "template field missing from a CSV row": (
        {
            "job.yaml": "model: m\ntemplate: '{topic}: {question}'\ninputs: q.csv\n",
            "q.csv": "topic,questoin\nkeys,Safe?\n",
        },
        None,
        "q.csv:2: question: this row has no 'question' for the template's {question}: "
        "add it, or change the template",
    ),
    "template field missing from a JSONL row": (
        {
            "job.yaml": "model: m\ntemplate: '{question}'\ninputs: q.jsonl\n",
            "q.jsonl": '{"question": "a"}\n{"q": "b"}\n',
        },
        None,
        "q.jsonl:2: question: this row has no 'question' for the template's {question}: "
        "add it, or change the template",
    ),
    "CSV row with an unquoted comma": (
        {"job.yaml": TEMPLATE_JOB, "q.csv": "id,q\n1,a\n2,b, c\n"},
        None,
        "q.csv:3: this row has 3 values but the header has 2 columns: "
        "quote values that contain commas",
    ),
    "CSV not UTF-8": (
        {"job.yaml": TEMPLATE_JOB, "q.csv": b"q\ncaf\xe9\n"},
        None,
        "q.csv:2:4: byte 0xe9 at offset 5 is not UTF-8: save the file as UTF-8",
    ),
    "CSV with only a header": (
        {"job.yaml": TEMPLATE_JOB, "q.csv": "q\n"},
        None,
        "q.csv: no rows: add rows below the header",
    ),
    "template filled in to nothing": (
        {"job.yaml": TEMPLATE_JOB, "q.csv": 'q\na\n" "\n'},
        None,
        "q.csv:3: the template gives an empty prompt for this row: fill in its values",
    ),
    "duplicate ids in a CSV": (
        {"job.yaml": TEMPLATE_JOB, "q.csv": "id,q\nx,a\ny,b\nx,c\n"},
        None,
        "q.csv:4: duplicate id 'x': line 2 has it too; give each item its own id",
    ),
    # JSONL
    "broken JSONL line": (
        {"job.jsonl": chat_line() + '\n{"messages": [}\n'},
        None,
        "job.jsonl:3:15: invalid JSON: Expecting value; each line must be one complete JSON object",
    ),
    "NaN in JSONL": (
        {"job.jsonl": chat_line().replace("}\n", ', "temperature": NaN}\n')},
        None,
        "job.jsonl:1: invalid JSON: NaN is not a JSON number, use a number or null; "
        "each line must be one complete JSON object",
    ),
    "JSONL line not an object": (
        {"job.jsonl": '["hi"]\n'},
        None,
        "job.jsonl:1: must be a JSON object, not a list",
    ),
    "JSONL line without messages": (
        {"job.jsonl": '{"id": "a", "prompt": "hi"}\n'},
        None,
        'job.jsonl:1: messages: missing: add "messages": [{"role": "user", "content": "..."}]',
    ),
    "JSONL line without a model": (
        {"job.jsonl": chat_line(model=None)},
        None,
        'job.jsonl:1: model: no model: add "model" to the line, or pass --model',
    ),
    "JSONL bad role": (
        {"job.jsonl": chat_line(messages=[{"role": "bot", "content": "a"}])},
        None,
        f"job.jsonl:1: messages[0].role: 'bot' is not one of {ROLES}",
    ),
    "Batch line with an endpoint batchbot does not run": (
        {"job.jsonl": batch_line(url="/v1/completions")},
        None,
        "job.jsonl:1: url: must be one of /v1/chat/completions, /v1/responses, /v1/embeddings, "
        'not "/v1/completions"',
    ),
    "Batch line asking another endpoint than line 1": (
        {
            "job.jsonl": batch_line(body={"model": "m", "messages": [user("a")]})
            + batch_line("b", url="/v1/embeddings")
        },
        None,
        "job.jsonl:2: url: asks for /v1/embeddings, but this job calls /v1/chat/completions "
        "(line 1's url): one job, one endpoint; put these requests in a job file of their own",
    ),
    "embeddings line without input": (
        {"job.jsonl": batch_line(url="/v1/embeddings", body={"model": "m"})},
        None,
        'job.jsonl:1: body.input: missing: add "input" with the text to embed',
    ),
    "embeddings line with a list as input": (
        {"job.jsonl": batch_line(url="/v1/embeddings", body={"model": "m", "input": ["a"]})},
        None,
        "job.jsonl:1: body.input: must be text, not a list",
    ),
    "Responses line with an empty input": (
        {"job.jsonl": batch_line(url="/v1/responses", body={"model": "m", "input": []})},
        None,
        "job.jsonl:1: body.input: is empty: give at least one input item",
    ),
    "embeddings job with a system prompt": (
        {"job.yaml": "model: m\nendpoint: /v1/embeddings\nsystem: be brief\nprompts: [a]\n"},
        None,
        "job.yaml:3:9: system: has no use in an embeddings job: the API embeds the text alone; "
        "remove it",
    ),
    "pack in a chat job": (
        {"job.yaml": "model: m\npack: 10\nprompts: [a]\n"},
        None,
        "job.yaml:2:7: pack: only an embeddings job packs items into a request: remove it, or add "
        "endpoint: /v1/embeddings",
    ),
    "embeddings prompt as a conversation": (
        {
            "job.yaml": "model: m\nendpoint: /v1/embeddings\nprompts:\n  - messages: "
            "[{role: user, content: a}, {role: user, content: b}]\n"
        },
        None,
        "job.yaml:4:5: prompts[0]: is not one text: an embeddings job embeds each prompt's text, "
        "written as text",
    ),
    "Batch line with the wrong method": (
        {"job.jsonl": batch_line(method="GET")},
        None,
        'job.jsonl:1: method: must be "POST", not "GET"',
    ),
    "Batch line missing its body": (
        {"job.jsonl": batch_line().replace(', "body": {}', "")},
        None,
        "job.jsonl:1: body: missing: a Batch API line has custom_id, method, url and body",
    ),
    "Batch body with a bad message": (
        {"job.jsonl": batch_line(body={"model": "m", "messages": [{"role": "user"}]})},
        None,
        f"job.jsonl:1: body.messages[0]: {NO_CONTENT}",
    ),
    "duplicate custom_id": (
        {
            "job.jsonl": "".join(
                batch_line(body={"model": "m", "messages": [user(text)]}) for text in "xy"
            )
        },
        None,
        "job.jsonl:2: duplicate id 'a': line 1 has it too; give each item its own id",
    ),
    "unpaired surrogate": (
        {"job.jsonl": chat_line("\ud800")},
        None,
        "job.jsonl:1: contains an unpaired surrogate escape (\\ud800-\\udfff): "
        "the API cannot take it",
    ),
    "empty JSONL": (
        {"job.jsonl": "\n\n"},
        None,
        "job.jsonl: no requests: add one JSON request a line",
    ),
}


@pytest.mark.parametrize(("files", "job", "message"), BAD.values(), ids=BAD.keys())
def test_bad_files(
    write: Any, files: dict[str, str | bytes], job: str | None, message: str
) -> None:
    """A broken job stops before any item is used, with file:line:column: field: what to do."""
    write(files)
    path = Path(job or next(iter(files)))
    with pytest.raises(JobFileError) as caught:
        load_job(path).validate()
    assert str(caught.value) == message


def test_settings_are_parsed(write: Any) -> None:
    """Every setting besides the prompts lands in JobSettings, typed."""
    job = load_job(
        write(
            {
                "faq.yaml": (
                    "model: gpt-4o-mini\nsystem: Hi\nparams: {temperature: 0}\ntier: tier-2\n"
                    "limits: {rpm: 500, tpm: 200000, concurrency: 8}\nbudget_usd: 2\nmode: auto\n"
                    "prices: {gpt-4o-mini: {input: 0.15, output: 0.6, cached_input: 0.075}}\n"
                    "prompts: [a]\n"
                )
            }
        )
    )
    assert job.name == "faq"
    assert job.path == Path("faq.yaml")
    assert job.settings == JobSettings(
        model="gpt-4o-mini",
        system="Hi",
        params={"temperature": 0},
        tier="tier-2",
        limits=Limits(rpm=500.0, tpm=200000.0, concurrency=8),
        budget_usd=2.0,
        mode="auto",
        prices={"gpt-4o-mini": {"input": 0.15, "output": 0.6, "cached_input": 0.075}},
        endpoint="/v1/chat/completions",
    )


def test_name_setting_and_jsonl_defaults(write: Any) -> None:
    """`name:` wins over the file's stem; a JSONL job has default settings and its stem as name."""
    named_job = load_job(write({"x.yaml": "name: nightly\nmodel: m\nprompts: [a]\n"}))
    jsonl_job = load_job(write({"labels.jsonl": ""}))
    assert (named_job.name, jsonl_job.name, jsonl_job.settings) == (
        "nightly",
        "labels",
        JobSettings(endpoint="/v1/chat/completions"),
    )


def test_params_override_may_not_set_model(write: Any) -> None:
    """The CLI's params cannot smuggle in a model; that is what the model override is for."""
    with pytest.raises(ConfigError, match="pass the model with --model"):
        load_job(write({"job.yaml": "model: m\nprompts: [a]\n"}), params={"model": "x"})


def test_items_is_a_generator_that_starts_over(write: Any) -> None:
    """items() streams lazily and every call reads the job again from the top."""
    job = load_job(write({"job.yaml": "model: m\nprompts: [a, b, c]\n"}))
    assert inspect.isgenerator(job.items())
    assert list(job.items()) == list(job.items())
    assert [item.body["messages"][0]["content"] for item in job.items()] == ["a", "b", "c"]


def test_items_stream_before_a_broken_line(write: Any) -> None:
    """The first items are usable before a later line is read; validate() finds the break."""
    line = '{"model": "m", "messages": [{"role": "user", "content": "%d"}]}\n'
    job = load_job(write({"big.jsonl": "".join(line % n for n in range(1000)) + "{oops\n"}))
    assert next(job.items()).line == 1
    with pytest.raises(JobFileError, match=r"^big\.jsonl:1001:2: invalid JSON"):
        job.validate()


def test_request_hash_ignores_key_order() -> None:
    """The same request hashes the same whatever order its keys were written in."""
    first = {"model": "m", "messages": [{"role": "user", "content": "é"}], "temperature": 0}
    second = {"temperature": 0, "messages": [{"content": "é", "role": "user"}], "model": "m"}
    canonical = '{"messages":[{"content":"é","role":"user"}],"model":"m","temperature":0}'
    assert request_hash(first) == request_hash(second)
    assert request_hash(first) == hashlib.sha256(canonical.encode()).hexdigest()


def test_changed_prompt_changes_hash(write: Any) -> None:
    """A changed parameter is a new request: its hash and default id change."""
    path = write({"job.yaml": "model: m\nprompts: [a]\n"})
    plain = next(load_job(path).items())
    warmer = next(load_job(path, params={"temperature": 1}).items())
    assert plain.request_hash != warmer.request_hash
    assert plain.id != warmer.id


def test_digest_collisions_are_not_duplicates(write: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ids are remembered as short digests; two ids sharing one are told apart by a re-read."""
    monkeypatch.setattr(jobs, "_digest", lambda item_id: 0)
    two = "model: m\nprompts:\n- {id: a, user: x}\n- {id: b, user: y}\n"
    assert load_job(write({"job.yaml": two})).validate() == 2
    three = two + "- {id: b, user: z}\n"
    with pytest.raises(JobFileError, match=r"^job\.yaml:5: duplicate id 'b': line 4 has it too"):
        load_job(write({"job.yaml": three})).validate()


def test_digest_set_grows_and_remembers() -> None:
    """The flat digest table keeps every digest through its growth, and only those."""
    digests = jobs._DigestSet()
    rng = random.Random(7)
    values = list({rng.getrandbits(64) for _ in range(20_000)})
    assert not any(digests.add(value) for value in values[:10_000])
    assert all(digests.add(value) for value in values[:10_000])
    assert not any(digests.add(value) for value in values[10_000:])
    assert digests.add(0) is False
    assert digests.add(1) is True  # 0 is stored as 1


def test_aliases_cannot_expand_without_end(write: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Aliases that multiply ("billion laughs") stop at a cap instead of eating memory."""
    monkeypatch.setattr(jobfile_yaml, "MAX_VALUES", 50)
    text = "model: m\na: &a [x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n"
    with pytest.raises(JobFileError, match="more than 50 values: check the aliases"):
        load_job(write({"job.yaml": text}))


def test_example_jobs_load_and_validate() -> None:
    """The shipped examples load, validate, and have enough questions to be worth running."""
    assert load_job(EXAMPLES / "faq.yaml").validate() >= 24
    assert load_job(EXAMPLES / "faq.jsonl").validate() >= 24
    assert load_job(EXAMPLES / "faq_template.yaml").validate() >= 10


def test_faq_yaml_and_jsonl_are_the_same_requests() -> None:
    """faq.jsonl is faq.yaml in Batch API form: same ids, messages, bodies and hashes."""
    from_yaml = [(i.id, i.body, i.request_hash) for i in load_job(EXAMPLES / "faq.yaml").items()]
    from_jsonl = [(i.id, i.body, i.request_hash) for i in load_job(EXAMPLES / "faq.jsonl").items()]
    assert from_yaml == from_jsonl


def test_faq_yaml_uses_every_prompt_form() -> None:
    """The example shows plain strings, {id, user} and a multi-turn {id, messages}."""
    items = list(load_job(EXAMPLES / "faq.yaml").items())
    hashed_ids = [item for item in items if item.id == item.request_hash[:16]]
    turns = [len(item.body["messages"]) for item in items]
    assert 0 < len(hashed_ids) < len(items)
    assert max(turns) >= 4  # system + user, assistant, user


YAML_BITS = st.sampled_from(
    [
        "model: m\n",
        "prompts:\n",
        "  - ",
        "- ",
        "{",
        "}",
        "[",
        "]",
        ", ",
        ": ",
        "id: ",
        "user: ",
        "messages: ",
        "role: ",
        "content: ",
        "system: ",
        "params: ",
        "limits: ",
        "rpm: ",
        "template: ",
        "inputs: q.csv\n",
        "'{q}'",
        "&a ",
        "*a",
        "<<: ",
        "!!binary ",
        "2024-01-01",
        ".inf",
        "yes",
        "42",
        "-1",
        "Hi",
        "user",
        "assistant",
        '"',
        "'",
        "?",
        "#",
        "\n",
        "  ",
        "\t",
        "---\n",
        "mode: ",
        "prices: ",
        "null",
        "~",
        "\\u0000",
    ]
)
JSON_BITS = st.sampled_from(
    [
        '{"messages": [',
        '{"role": "user", "content": "hi"}',
        "]",
        "}",
        ", ",
        '"model": "m"',
        '"id": ',
        '"custom_id": "x"',
        '"method": "POST"',
        '"url": "/v1/chat/completions"',
        '"body": ',
        "{",
        "[",
        "null",
        "1e999",
        "NaN",
        '"\\ud800"',
        "\n",
        ":",
        '"',
        "true",
    ]
)


KEYS = st.sampled_from(
    [
        "model",
        "prompts",
        "id",
        "user",
        "messages",
        "role",
        "content",
        "system",
        "params",
        "template",
        "inputs",
        "custom_id",
        "method",
        "url",
        "body",
        "limits",
        "rpm",
        "prices",
        "input",
        "output",
        "mode",
        "type",
        "text",
        "tool_calls",
    ]
)
WORDS = st.sampled_from(["m", "Hi", "user", "assistant", "system", "POST", "/v1/chat/completions"])
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=4) | WORDS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=12,
)
MESSAGES = st.lists(
    st.fixed_dictionaries({}, optional={"role": WORDS | VALUES, "content": WORDS | VALUES}),
    max_size=3,
)
PROMPTS = WORDS | st.fixed_dictionaries(
    {},
    optional={
        "id": WORDS | VALUES,
        "user": WORDS | VALUES,
        "messages": MESSAGES | VALUES,
        "system": WORDS | VALUES,
        "params": st.dictionaries(KEYS, VALUES, max_size=2),
    },
)
REQUESTS = st.fixed_dictionaries(
    {"messages": MESSAGES}, optional={"id": WORDS | VALUES, "model": WORDS | VALUES}
)
LINES = REQUESTS | st.fixed_dictionaries(
    {"custom_id": WORDS | VALUES, "method": WORDS, "url": WORDS, "body": REQUESTS}
)
YAML_DOCS = st.one_of(
    st.dictionaries(KEYS, VALUES, max_size=5),
    st.fixed_dictionaries({"model": WORDS, "prompts": st.lists(PROMPTS, max_size=4)}),
).map(yaml.safe_dump)
JSONL_DOCS = st.lists(VALUES | LINES, max_size=4).map(
    lambda lines: "\n".join(map(json.dumps, lines))
)


def soup(bits: st.SearchStrategy[str], docs: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Random text, random runs of format fragments, and random documents of likely keys."""
    return st.one_of(st.text(), st.lists(bits, max_size=40).map("".join), docs)


def loads_or_explains(path: Path) -> None:
    """Load and validate; anything but a clean result or a JobFileError fails the test."""
    try:
        job = load_job(path)
        count = job.validate()
    except JobFileError:
        return
    items = list(job.items())
    assert len(items) == count
    assert all(isinstance(item, Item) and item.id for item in items)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=soup(YAML_BITS, YAML_DOCS))
def test_any_yaml_text_loads_or_explains(
    tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    """Whatever text a .yaml job holds, the result is Items or a JobFileError, nothing else."""
    folder = tmp_path_factory.mktemp("yaml", numbered=True)
    (folder / "q.csv").write_text("q\nhello\n", encoding="utf-8")
    path = folder / "job.yaml"
    path.write_text(text, encoding="utf-8")
    loads_or_explains(path)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=soup(JSON_BITS, JSONL_DOCS))
def test_any_jsonl_text_loads_or_explains(
    tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    """Whatever text a .jsonl job holds, the result is Items or a JobFileError, nothing else."""
    path = tmp_path_factory.mktemp("jsonl", numbered=True) / "job.jsonl"
    path.write_text(text, encoding="utf-8")
    loads_or_explains(path)


@settings(max_examples=100, deadline=None)
@given(data=st.binary())
def test_any_bytes_load_or_explain(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    """Arbitrary bytes, valid UTF-8 or not, give Items or a JobFileError."""
    folder = tmp_path_factory.mktemp("bytes", numbered=True)
    for name in ("job.yaml", "job.jsonl"):
        (folder / name).write_bytes(data)
        loads_or_explains(folder / name)


def test_validate_tells_how_far_it_has_got(write: Any, monkeypatch: Any) -> None:
    """A big job's check reports its count every CHECKED_EVERY items, and no further."""
    monkeypatch.setattr(jobs, "CHECKED_EVERY", 10)
    line = '{"messages": [{"role": "user", "content": "%d"}]}\n'
    job = load_job(write({"big.jsonl": "".join(line % n for n in range(25))}), model="m")
    heard: list[int] = []
    assert job.validate(heard.append) == 25
    assert heard == [10, 20]


@pytest.mark.parametrize(
    ("files", "endpoint"),
    [
        ({"j.jsonl": json.dumps({"model": EMBEDDER, "input": "0\n"}) + "\n"}, "/v1/embeddings"),
        ({"j.jsonl": json.dumps({"model": "gpt-4.1", "input": "Hi"}) + "\n"}, "/v1/responses"),
        ({"j.jsonl": json.dumps({"input": "Hi"}) + "\n"}, "/v1/responses"),
        ({"j.jsonl": json.dumps({"model": "m", "messages": [user("Hi")]}) + "\n"}, CHAT),
        ({"j.yaml": f"model: {EMBEDDER}\nprompts: [a, b]\n"}, "/v1/embeddings"),
        ({"j.yaml": "model: gpt-4o-mini\nprompts: [a, b]\n"}, CHAT),
    ],
)
def test_the_endpoint_follows_from_what_the_job_holds(write: Any, files, endpoint) -> None:
    """With no endpoint given, a JSONL job's first line says it by its shape (`input` without
    `messages`, an embeddings model), and a YAML job's embeddings model says it."""
    assert load_job(write(files)).endpoint == endpoint


def test_a_cookbook_line_keeps_its_metadata_and_does_not_send_it(write: Any) -> None:
    """A line written for OpenAI's cookbook script: its metadata is the item's own, kept as
    JSON text beside the body, and neither in the body nor in its hash."""
    line = {"model": EMBEDDER, "input": "7\n", "metadata": {"row_id": 7}}
    (item,) = load_job(write({"j.jsonl": json.dumps(line) + "\n"})).items()
    assert item.body == {"model": EMBEDDER, "input": "7\n"}
    assert item.metadata == '{"row_id":7}'
    assert item.request_hash == request_hash(item.body)


def test_metadata_in_yaml_params_is_sent(write: Any) -> None:
    """A YAML job that asks for the API's metadata (with store) sends it as a parameter."""
    text = "model: m\nparams: {store: true, metadata: {topic: faq}}\nprompts: [a]\n"
    (item,) = load_job(write({"j.yaml": text})).items()
    assert (item.body["metadata"], item.metadata) == ({"topic": "faq"}, None)


def test_allowed_parameters_pass_anywhere_in_the_job(write: Any) -> None:
    """allow_params lets a name the endpoint lacks through, in params and in JSONL lines."""
    yaml_job = write({"j.yaml": "model: m\nparams: {top_k: 4}\nprompts: [a]\n"})
    (item,) = load_job(yaml_job, allow_params=["top_k"]).items()
    assert item.body["top_k"] == 4
    line = json.dumps({"model": "m", "messages": [user("a")], "min_p": 0.1}) + "\n"
    job = load_job(write({"j.jsonl": line}), allow_params=("min_p",))
    assert job.validate() == 1


def test_params_override_of_an_unknown_name_is_a_config_error(write: Any) -> None:
    """The library's params override is checked like the file's params."""
    with pytest.raises(ConfigError, match=r"^params\.max_token: is not a parameter of Chat"):
        load_job(write({"job.yaml": "model: m\nprompts: [a]\n"}), params={"max_token": 5})
