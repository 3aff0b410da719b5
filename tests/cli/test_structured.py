"""End to end: structured answers kept whole, validated, asked again within the budget, in sync
and Batch mode, against the fake API through the real openai client."""

from __future__ import annotations

import json
import sqlite3
import urllib.request
from pathlib import Path

import jsonschema
import pytest

from batchbot import read_answers
from batchbot.api.client import ChatClient
from batchbot.fake.counting import text_tokens

CONTACT = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "email": {"type": "string", "format": "email"},
        "age": {"type": "integer", "minimum": 0},
    },
    "required": ["name", "email", "age"],
    "additionalProperties": False,
}
PEOPLE = ["Alice Smith, alice@example.com, 34", "Bob Jones, 51, bob@example.org", "Chen Li, 29"]
MINI = (0.15, 0.6)  # gpt-4o-mini, USD per million input and output tokens


def rows(db: Path, sql: str, *params: object) -> list[dict[str, object]]:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(row) for row in conn.execute(sql, params)]


def lines(output: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.splitlines()]


def tool_job(endpoint: str) -> str:
    """A job forcing a tool, in the shape the endpoint takes tools and tool_choice."""
    function = {"name": "save_contact", "parameters": CONTACT}
    if endpoint == "/v1/responses":
        tool, choice, cap = (
            {"type": "function", **function},
            {"type": "function", "name": "save_contact"},
            "max_output_tokens",
        )
    else:
        tool = {"type": "function", "function": function}
        choice = {"type": "function", "function": {"name": "save_contact"}}
        cap = "max_tokens"
    params = {cap: 200, "tools": [tool], "tool_choice": choice}
    prompts = [{"id": f"c{n}", "user": text} for n, text in enumerate(PEOPLE)]
    job = {"name": "contacts", "endpoint": endpoint, "model": "gpt-4o-mini", "params": params}
    return json.dumps({**job, "prompts": prompts})


@pytest.mark.parametrize("endpoint", ["/v1/chat/completions", "/v1/responses"])
def test_a_forced_tool_keeps_every_call_and_a_rerun_sends_nothing(
    tmp_path, write_job, invoke, fake_api, endpoint
):
    """Every item's call and arguments are in the database, the answers view and the export,
    parsed; the same job again sends nothing."""
    job = write_job("contacts.yaml", tool_job(endpoint))
    result = invoke("run", str(job), "--base-url", fake_api.url)
    assert result.exit_code == 0, result.output
    db = tmp_path / "batchbot.db"
    stored = rows(db, "select * from requests order by item_id")
    assert len(stored) == len(PEOPLE)
    for row in stored:
        assert (row["status"], row["content"], row["validation_error"]) == ("ok", None, None)
        (call,) = json.loads(row["tool_calls"])
        assert call["name"] == "save_contact"
        assert call["id"].startswith("call_")
        jsonschema.validate(json.loads(call["arguments"]), CONTACT)
        assert json.loads(row["parsed"]) == json.loads(call["arguments"])
    view = rows(db, "select item_id, answer, parsed from answers order by item_id")
    assert [v["answer"] for v in view] == [
        json.loads(r["tool_calls"])[0]["arguments"] for r in stored
    ]
    exported = lines(invoke("export", str(job)).stdout)
    assert [e["answer"] for e in exported] == [v["answer"] for v in view]
    assert [e["parsed"] for e in exported] == [json.loads(r["parsed"]) for r in stored]
    assert [e["tool_calls"][0]["name"] for e in exported] == ["save_contact"] * len(PEOPLE)
    sent = fake_api.stats.requests
    again = invoke("run", str(job), "--base-url", fake_api.url)
    assert "nothing to send, all 3 items already answered" in again.output
    assert fake_api.stats.requests == sent


SCHEMA_JOB = f"""\
name: people
model: gpt-4o-mini
params: {{max_tokens: 100}}
schema: {json.dumps(CONTACT)}
on_invalid: retry
on_length: retry
max_tokens_cap: 400
template: "Extract the contact: {{text}}"
inputs: people.csv
"""


@pytest.fixture
def thousand(write_job):
    """The schema job over 1,000 rows."""
    text = "id,text\n" + "".join(
        f"p{n},Person {n} of town {n % 37} aged {n % 60}\n" for n in range(1000)
    )
    write_job("people.csv", text)
    return write_job("people.yaml", SCHEMA_JOB)


def answers(fake_api, **shares: float) -> None:
    """Set the fake's shares of wrong answers through its control endpoint."""
    url = fake_api.url.removesuffix("/v1") + "/_fake/answers"
    request = urllib.request.Request(url, json.dumps(shares).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        assert json.loads(response.read()) == {"ok": True}


def check_the_answers(db: Path) -> list[dict[str, object]]:
    """Every item ends valid, or marked with its reason; every answer's cost is in its item's."""
    stored = rows(db, "select * from requests")
    for row in stored:
        if row["status"] == "ok":
            jsonschema.validate(json.loads(row["parsed"]), CONTACT)
            assert row["validation_error"] is None
        elif row["status"] == "invalid":
            assert row["validation_error"]
            assert row["reasks"] >= 2  # max_reasks, and any re-asks for length before
        else:  # cut off even at the cap
            assert (row["status"], row["finish_reason"], row["max_tokens"]) == (
                "truncated",
                "length",
                400,
            )
    (paid,) = rows(db, "select sum(cost_usd) as usd from attempts")
    (kept,) = rows(
        db,
        "select sum(cost_usd) as usd, sum(reask_cost_usd) as reasks, sum(reasks) as n "
        "from requests",
    )
    (asked,) = rows(
        db,
        "select sum(cost_usd) as usd, count(*) as n from attempts "
        "where reask is not null and prompt_tokens is not null",
    )
    assert kept["usd"] == pytest.approx(paid["usd"])  # every answer bought is in its item's cost
    assert (kept["n"], kept["reasks"]) == (asked["n"], pytest.approx(asked["usd"]))
    return stored


def test_a_schema_job_with_wrong_answers_ends_valid_or_marked_within_budget(
    tmp_path, thousand, invoke, fake_api
):
    """1,000 items against 10 % invalid JSON and 5 % cut-off answers: a tight budget stops the
    run without overspending (re-asks included); with room, every item ends valid or marked
    with its reason; report, runs and export say what happened, CSV with a column per field."""
    answers(fake_api, invalid=0.1, length=0.05)
    db = tmp_path / "batchbot.db"
    tight = invoke("run", str(thousand), "--base-url", fake_api.url, "--max-cost", "0.01")
    assert tight.exit_code == 3, tight.output
    assert "budget reached" in tight.output
    (spent,) = rows(db, "select sum(cost_usd) as usd from requests")
    assert spent["usd"] <= 0.01
    result = invoke("run", str(thousand), "--base-url", fake_api.url, "--max-cost", "1.00")
    assert result.exit_code in (0, 1), result.output
    stored = check_the_answers(db)
    assert len(stored) == 1000
    reasked = [row for row in stored if row["reasks"]]
    assert 100 < len(reasked) < 250  # about 15 % of first answers, and some re-asks again
    assert {r["status"] for r in stored} <= {"ok", "invalid", "truncated"}
    assert fake_api.stats.answered == 1000 + sum(r["reasks"] for r in stored)

    (total,) = json.loads(invoke("report", "--json").stdout)
    assert total["reasks"] == sum(r["reasks"] for r in stored)
    assert total["reask_cost_usd"] == pytest.approx(sum(r["reask_cost_usd"] or 0 for r in stored))
    assert total["invalid"] == sum(r["status"] == "invalid" for r in stored)
    table = invoke("report").stdout
    assert "re-asks" in table
    assert "answers asked again (on_invalid, on_length)" in table
    assert "answers asked again" in invoke("report", "--html", "page.html").stdout
    assert "asked again" in (tmp_path / "page.html").read_text()
    runs = invoke("runs").stdout
    assert "why: budget reached" in runs
    assert "re-asks ($" in runs

    csv_rows = invoke("export", str(thousand), "--format", "csv").stdout.splitlines()
    header = csv_rows[0].split(",")
    assert [header.count(field) for field in CONTACT["properties"]] == [1, 1, 1]
    assert len(csv_rows) == 1001


def test_the_same_job_in_batch_mode_re_asks_in_the_next_batch(tmp_path, thousand, invoke, fake_api):
    """In Batch mode the answers a batch got wrong are asked again together, as the next
    batch, at batch price, until every item is valid (an answer is invalid one time in ten,
    so a thousand items may need a fourth re-ask: this run allows it)."""
    answers(fake_api, invalid=0.1, length=0.05)
    result = invoke(
        "run", str(thousand), "--base-url", fake_api.url, "--mode", "batch", "--wait",
        "--poll-interval", "0.05", "--max-reasks", "4",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    db = tmp_path / "batchbot.db"
    stored = check_the_answers(db)
    assert {(r["status"], r["mode"]) for r in stored} == {("ok", "batch")}
    batches = [b["requests"] for b in rows(db, "select requests from batches order by id")]
    again = [sum(r["reasks"] >= n for r in stored) for n in range(1, len(batches))]
    assert batches == [1000, *again]  # each batch: the re-asks of the one before
    assert batches[1] > 100
    prices = {json.loads(r["price"])["batch"] for r in rows(db, "select price from requests")}
    assert prices == {True}


def test_n_choices_are_stored_and_paid_for_once(tmp_path, write_job, invoke, fake_api):
    """n: 3 keeps three checked choices per item; the item's row has the cost of all three,
    and reports count it once."""
    job = write_job(
        "three.yaml",
        f"model: gpt-4o-mini\nparams: {{n: 3, max_tokens: 100}}\nschema: {json.dumps(CONTACT)}\n"
        f"prompts: {json.dumps(PEOPLE)}\n",
    )
    assert invoke("run", str(job), "--base-url", fake_api.url).exit_code == 0
    db = tmp_path / "batchbot.db"
    for row in rows(db, "select * from requests"):
        choices = rows(
            db, "select * from choices where request_id = ? order by choice_index", row["id"]
        )
        assert [c["choice_index"] for c in choices] == [0, 1, 2]
        assert choices[0]["content"] == row["content"]
        for choice in choices:
            assert choice["status"] == "ok"
            assert json.loads(choice["parsed"]) == json.loads(choice["content"])
        completion = sum(text_tokens("gpt-4o-mini", c["content"]) for c in choices)
        assert row["completion_tokens"] == completion
        assert row["cost_usd"] == pytest.approx(
            (row["prompt_tokens"] * MINI[0] + completion * MINI[1]) / 1e6
        )
    (total,) = json.loads(invoke("report", "--json").stdout)
    assert (total["requests"], total["answered"]) == (3, 3)
    exported = lines(invoke("export", str(job)).stdout)
    assert [len(e["choices"]) for e in exported] == [3, 3, 3]


def test_marked_answers_end_invalid_or_refused_with_their_reason(
    tmp_path, write_job, invoke, fake_api
):
    """An item whose answers are always invalid is asked again max_reasks times, then kept
    invalid with its error; a refusal is kept and not asked again; both make exit 1."""
    job = write_job(
        "marked.yaml",
        f"model: gpt-4o-mini\nparams: {{max_tokens: 100}}\nschema: {json.dumps(CONTACT)}\n"
        "on_invalid: retry\nmax_reasks: 2\nprompts:\n"
        "  - {id: bad, user: 'Dana [[fake:invalid]]'}\n"
        "  - {id: nope, user: 'Eve [[fake:refusal]]'}\n"
        "  - {id: fine, user: Fay}\n",
    )
    result = invoke("run", str(job), "--base-url", fake_api.url)
    assert result.exit_code == 1, result.output
    assert "1 answered, 1 invalid, 1 refused, 0 failed · 2 re-asks ($" in result.output
    db = tmp_path / "batchbot.db"
    stored = {r["item_id"]: r for r in rows(db, "select * from requests")}
    assert (stored["bad"]["status"], stored["bad"]["reasks"]) == ("invalid", 2)
    assert stored["bad"]["validation_error"]
    tries = rows(
        db,
        "select a.* from attempts a join requests r on r.id = a.request_id "
        "where r.item_id = 'bad' order by a.id",
    )
    assert [(t["reask"], t["error_code"]) for t in tries] == [
        (None, "invalid"),
        ("invalid", "invalid"),
        ("invalid", "invalid"),
    ]
    assert stored["bad"]["cost_usd"] == pytest.approx(sum(t["cost_usd"] for t in tries))
    assert (stored["nope"]["status"], stored["nope"]["reasks"]) == ("refused", 0)
    assert stored["nope"]["refusal"]
    assert stored["nope"]["content"] is None
    assert "1 invalid, 1 refused, 2 re-asks" in invoke("runs").stdout
    sent = fake_api.stats.requests
    assert invoke("run", str(job), "--base-url", fake_api.url).exit_code == 0  # nothing to send
    assert fake_api.stats.requests == sent


def test_a_rerun_asks_again_what_the_policy_now_says_to(tmp_path, thousand, invoke, fake_api):
    """Invalid answers kept by a run without on_invalid are asked again by a run with it, and
    only they; the items' costs add up over both runs."""
    keep = SCHEMA_JOB.replace("on_invalid: retry\n", "").replace("on_length: retry\n", "")
    thousand.write_text(keep.replace("max_tokens_cap: 400\n", ""), encoding="utf-8")
    answers(fake_api, invalid=0.1)
    assert invoke("run", str(thousand), "--base-url", fake_api.url).exit_code == 1
    db = tmp_path / "batchbot.db"
    invalid = {
        r["item_id"] for r in rows(db, "select item_id from requests where status = 'invalid'")
    }
    (before,) = rows(db, "select sum(cost_usd) as usd from requests")
    sent = fake_api.stats.answered
    invoke(
        "run",
        str(thousand),
        "--base-url",
        fake_api.url,
        "--on-invalid",
        "retry",
        "--max-reasks",
        "1",
    )
    assert fake_api.stats.answered - sent == len(invalid)
    reasked = {r["item_id"] for r in rows(db, "select item_id from requests where reasks = 1")}
    assert reasked == invalid
    (after,) = rows(db, "select sum(cost_usd) as usd from attempts")
    (kept,) = rows(db, "select sum(cost_usd) as usd from requests")
    assert kept["usd"] == pytest.approx(after["usd"])
    assert kept["usd"] > before["usd"]


def test_each_re_ask_holds_its_own_durable_reservation(
    tmp_path, write_job, invoke, fake_api, monkeypatch
):
    """Under a daily budget every ask, first or re-ask, has its worst case committed to
    `reservations` while it is on the wire (a longer re-ask a larger one); none is left after."""
    job = write_job(
        "held.yaml",
        f"model: gpt-4o-mini\nparams: {{max_tokens: 50}}\nschema: {json.dumps(CONTACT)}\n"
        "on_invalid: retry\nmax_reasks: 2\non_length: retry\nmax_tokens_cap: 200\n"
        "budget_usd_per_day: 1.0\nprompts:\n"
        "  - {id: bad, user: 'Dana [[fake:invalid]]'}\n"
        "  - {id: long, user: 'Gus [[fake:length]]'}\n",
    )
    db = tmp_path / "batchbot.db"
    seen: list[tuple[str, int, list[tuple[str, float]]]] = []
    complete = ChatClient.complete

    async def sending(self, body):
        item = "bad" if "Dana" in body["messages"][0]["content"] else "long"
        with sqlite3.connect(db) as conn:  # another connection sees only what is committed
            held = conn.execute("select item_id, worst_usd from reservations").fetchall()
        seen.append((item, body["max_tokens"], held))
        return await complete(self, body)

    monkeypatch.setattr(ChatClient, "complete", sending)
    result = invoke("run", str(job), "--base-url", fake_api.url, "--concurrency", "1")
    assert result.exit_code == 1, result.output  # bad ends invalid
    asks = {item: [s for s in seen if s[0] == item] for item in ("bad", "long")}
    assert len(asks["bad"]) == 3  # the first ask and max_reasks re-asks
    assert [tokens for _, tokens, _ in asks["long"]] == [50, 100, 200]  # doubled up to the cap
    for item, _, held in seen:
        assert [row[0] for row in held] == [item]  # its own row, and only its own, on the wire
    long_worst = [held[0][1] for _, _, held in asks["long"]]
    assert long_worst == sorted(long_worst)
    assert len(set(long_worst)) == 3  # each re-ask reserves its own, larger worst case
    with sqlite3.connect(db) as conn:
        assert conn.execute("select count(*) from reservations").fetchone() == (0,)
        (reasks,) = conn.execute("select count(*) from attempts where reask is not null").fetchone()
    assert reasks == len(seen) - 2


def test_on_length_retry_needs_a_cap(write_job, invoke):
    """on_length: retry without max_tokens_cap is a usage error before anything is sent."""
    job = write_job("j.yaml", "model: gpt-4o-mini\non_length: retry\nprompts: [hi]\n")
    result = invoke("run", str(job), "--dry-run")
    assert result.exit_code == 2
    assert "on_length: retry asks again with twice the max_tokens, up to a cap" in result.output


MODELS = """\
from pydantic import BaseModel


class Contact(BaseModel):
    name: str
    email: str
    age: int
"""


def test_read_answers_gives_pydantic_objects(tmp_path, write_job, invoke, fake_api, monkeypatch):
    """With schema: module:Class, answers are validated by the model and read back as its
    instances."""
    monkeypatch.syspath_prepend(str(tmp_path))
    write_job("contact_models.py", MODELS)
    job = write_job(
        "typed.yaml",
        f"model: gpt-4o-mini\nparams: {{max_tokens: 100}}\nschema: contact_models:Contact\n"
        f"prompts: {json.dumps(PEOPLE)}\n",
    )
    assert invoke("run", str(job), "--base-url", fake_api.url).exit_code == 0
    found = list(read_answers(job, db_path=tmp_path / "batchbot.db"))
    assert [type(a.parsed).__name__ for a in found] == ["Contact"] * 3
    assert [a.parsed.model_dump() for a in found] == [json.loads(a.answer) for a in found]


def test_the_dry_run_counts_the_schema_and_says_re_asks_are_extra(write_job, invoke):
    """--dry-run counts the schema in the prompt and says re-asks are not in its figures."""
    job = write_job(
        "j.yaml",
        f"model: gpt-4o-mini\nparams: {{max_tokens: 50}}\nschema: {json.dumps(CONTACT)}\n"
        "on_invalid: retry\nprompts: [hi]\n",
    )
    result = invoke("run", str(job), "--dry-run")
    assert result.exit_code == 0, result.output
    assert ", schema " in result.output
    assert "note: re-asks (on_invalid, on_length) are not in these figures" in result.output


def test_the_extraction_example_runs_with_fake(tmp_path, invoke):
    """jobs/extract.yaml runs as a new user would run it, and exports a column per field."""
    examples = Path(__file__).resolve().parents[2] / "jobs"
    for name in ("extract.yaml", "support_tickets.csv"):
        (tmp_path / name).write_bytes((examples / name).read_bytes())
    result = invoke("run", "extract.yaml", "--fake", key=None)
    assert result.exit_code == 0, result.output
    stored = rows(tmp_path / "batchbot.db", "select status, parsed, request from requests")
    assert len(stored) == 12
    schema = json.loads(stored[0]["request"])["response_format"]["json_schema"]["schema"]
    for row in stored:
        assert row["status"] == "ok"
        jsonschema.validate(json.loads(row["parsed"]), schema)
    header = invoke("export", "support-tickets", "--format", "csv").stdout.splitlines()[0]
    assert header.endswith(",reasks,metadata,customer,email,category,urgency,summary,needs_human")
    fields = ["customer", "email", "category", "urgency", "summary", "needs_human"]
    assert list(schema["properties"]) == fields  # each description whole, no stray key
    assert "if the ticket gives one" in schema["properties"]["email"]["description"]
    text = (tmp_path / "extract.yaml").read_text().replace("name: support-tickets", "name: copy")
    (tmp_path / "copy.yaml").write_text(text)
    result = invoke("run", "copy.yaml", "--fake", key=None)
    assert result.exit_code == 0, result.output
    assert "copy: 12 answered (12 from the cache" in result.output  # same schema, same request


def test_a_tool_the_model_chose_is_an_answer_beside_a_schema(tmp_path, write_job, invoke, fake_api):
    """A job with schema: and tools left to the model: the answers that call a tool are ok,
    kept in tool_calls, the text answers validated; the run exits 0 and re-asks none."""
    lookup = {
        "type": "function",
        "function": {
            "name": "lookup",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string"}},
                "required": ["order_id"],
                "additionalProperties": False,
            },
        },
    }
    job = {
        "model": "gpt-4o-mini",
        "schema": {"type": "object", "properties": {"answer": {"type": "string"}}},
        "on_invalid": "retry",
        "params": {"max_tokens": 200, "tools": [lookup]},
        "prompts": [f"Where is order {n}?" for n in range(8)],
    }
    path = write_job("orders.yaml", json.dumps(job))
    result = invoke("run", str(path), "--base-url", fake_api.url)
    assert result.exit_code == 0, result.output
    with sqlite3.connect(tmp_path / "batchbot.db") as conn:
        rows = conn.execute("select status, tool_calls, parsed, reasks from requests").fetchall()
    assert {status for status, *_ in rows} == {"ok"}
    called = [r for r in rows if r[1]]
    assert called
    assert all(
        parsed is None and json.loads(calls)[0]["name"] == "lookup"
        for _, calls, parsed, _ in called
    )
    assert all(parsed is not None for _, calls, parsed, _ in rows if not calls)
    assert sum(reasks for *_, reasks in rows) == 0
