"""The response cache end to end: an identical request answered before is not bought again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from stored import rows

from batchbot.jobs.caching import cache_key
from batchbot.jobs.job import load_job

FAQ = """\
name: {name}
model: gpt-4o-mini
{extra}params: {{temperature: {temperature}, max_tokens: 60}}
prompts:
  - What is a chatbot?
  - {{id: key-safety, user: 'How do I keep my API key safe?'}}
  - What is a token?
"""


def faq(write_job, name: str, *, temperature: float = 0, extra: str = "") -> Path:
    text = FAQ.format(name=name, temperature=temperature, extra=extra)
    return write_job(f"{name}.yaml", text)


def test_the_same_job_under_another_name_sends_nothing_and_costs_nothing(
    tmp_path, write_job, invoke, fake_api
):
    """A deterministic job run again as another job is answered from the first one's answers:
    no request, $0, each row saying where its answer came from, and the report the saving."""
    first = faq(write_job, "faq")
    assert invoke("run", str(first), "--base-url", fake_api.url).exit_code == 0
    sent, bill = fake_api.stats.requests, fake_api.stats.billed_usd
    second = faq(write_job, "faq-again")
    result = invoke("run", str(second), "--base-url", fake_api.url)
    assert result.exit_code == 0, result.output
    assert "faq-again: 3 answered (3 from the cache" in result.output
    assert "0 tokens · $0.00 · " in result.output
    assert fake_api.stats.requests == sent
    db = tmp_path / "batchbot.db"
    again = {r["item_id"]: r for r in rows(db, "select * from requests where job = 'faq-again'")}
    before = {r["item_id"]: r for r in rows(db, "select * from requests where job = 'faq'")}
    assert again.keys() == before.keys()
    for item_id, row in again.items():
        earlier = before[item_id]
        assert (row["content"], row["finish_reason"], row["status"]) == (
            earlier["content"],
            earlier["finish_reason"],
            earlier["status"],
        )
        assert (row["cost_usd"], row["prompt_tokens"], row["attempts"]) == (0.0, 0, 0)
        assert row["list_usd"] == pytest.approx(earlier["cost_usd"])
        origin = json.loads(str(row["cached_from"]))
        assert (origin["job"], origin["item_id"], origin["run_id"]) == ("faq", item_id, 1)
        assert origin["db"] == str(db.resolve())
    (total,) = json.loads(invoke("report", "--json", "--job", "faq-again").stdout)
    assert (total["cost_usd"], total["cache_hits"]) == (0.0, 3)
    assert total["cache_saved_usd"] == pytest.approx(bill)
    assert "  response cache " in invoke("report").stdout


def test_a_non_deterministic_job_is_sent_unless_the_job_says_always(
    tmp_path, write_job, invoke, fake_api
):
    """cache: deterministic (the default) reuses only temperature 0 or a seed; a job sampling
    at 0.7 is sent, unless it says cache: always; --no-cache sends even a deterministic one."""
    url = ("--base-url", fake_api.url)
    assert invoke("run", str(faq(write_job, "warm", temperature=0.7)), *url).exit_code == 0
    assert fake_api.stats.requests == 3
    assert invoke("run", str(faq(write_job, "sampled", temperature=0.7)), *url).exit_code == 0
    assert fake_api.stats.requests == 6
    always = faq(write_job, "always", temperature=0.7, extra="cache: always\n")
    assert invoke("run", str(always), *url).exit_code == 0
    assert fake_api.stats.requests == 6
    seeded = faq(write_job, "seeded", extra="")
    assert invoke("run", str(seeded), *url).exit_code == 0
    assert fake_api.stats.requests == 9  # temperature 0 now: a request not answered before
    fresh = faq(write_job, "fresh")
    result = invoke("run", str(fresh), *url, "--no-cache")
    assert result.exit_code == 0, result.output
    assert fake_api.stats.requests == 12
    never = faq(write_job, "never", extra="cache: never\n")
    assert invoke("run", str(never), *url).exit_code == 0
    assert fake_api.stats.requests == 15
    hits = rows(tmp_path / "batchbot.db", "select job, count(cached_from) as n from requests "
                "group by job order by job")  # fmt: skip
    assert {r["job"]: r["n"] for r in hits} == {
        "always": 3, "fresh": 0, "never": 0, "sampled": 0, "seeded": 0, "warm": 0,
    }  # fmt: skip
    assert (
        "--no-cache and --cache say opposite things"
        in invoke("run", str(fresh), *url, "--no-cache", "--cache", "shared.db").output
    )


def test_what_is_the_same_request(write_job, invoke, fake_api):
    """Key order, ids and the parameters that only route or bill a request do not make another
    request; one that changes the answer does."""
    lines = [
        {"id": "a", "model": "gpt-4o-mini", "temperature": 0, "max_tokens": 40,
         "messages": [{"role": "user", "content": "Hi"}]},
        {"messages": [{"content": "Hi", "role": "user"}], "max_tokens": 40, "id": "b",
         "temperature": 0, "model": "gpt-4o-mini", "user": "someone", "metadata": {"k": "v"},
         "service_tier": "default", "prompt_cache_key": "mine", "store": False},
        {"id": "c", "model": "gpt-4o-mini", "temperature": 0, "max_tokens": 41,
         "messages": [{"role": "user", "content": "Hi"}]},
    ]  # fmt: skip
    keys = []
    for n, line in enumerate(lines):
        job = write_job(f"j{n}.jsonl", json.dumps(line) + "\n")
        keys.append(cache_key(next(load_job(job).items()), "/v1/chat/completions"))
        assert invoke("run", str(job), "--base-url", fake_api.url).exit_code == 0
    assert keys[0] == keys[1] != keys[2]
    assert fake_api.stats.requests == 2  # b was answered from a; c asked for more tokens
    item = next(load_job(write_job("j0.jsonl", json.dumps(lines[0]) + "\n")).items())
    assert cache_key(item, "/v1/chat/completions") != cache_key(item, "/v1/responses")


def test_whole_answers_are_reused_tool_calls_parsed_json_and_every_choice(
    tmp_path, write_job, invoke, fake_api
):
    """A reused answer is the whole answer: its tool calls, its parsed object, its n choices,
    each checked against the schema again."""
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"],
              "additionalProperties": False}  # fmt: skip
    tool = {"type": "function", "function": {"name": "save", "parameters": schema}}
    choice = {"type": "function", "function": {"name": "save"}}
    person = {"type": "json_schema", "json_schema": {"name": "person", "schema": schema}}
    jobs = {
        "tools": {"temperature": 0, "max_tokens": 80, "tools": [tool], "tool_choice": choice},
        "choices": {"seed": 7, "n": 3, "max_tokens": 80, "response_format": person},
    }
    db = tmp_path / "batchbot.db"
    for name, params in jobs.items():
        text = json.dumps({"model": "gpt-4o-mini", "params": params, "prompts": ["Ann", "Bo"]})
        for copy in (name, f"{name}-again"):
            job = write_job(f"{copy}.yaml", text)
            assert invoke("run", str(job), "--base-url", fake_api.url).exit_code == 0
        first = rows(db, "select * from requests where job = ? order by item_id", name)
        again = rows(db, "select * from requests where job = ? order by item_id", f"{name}-again")
        for old, new in zip(first, again, strict=True):
            for column in ("content", "tool_calls", "parsed", "status", "finish_reason"):
                assert new[column] == old[column], column
            assert new["cached_from"] is not None
            assert new["parsed"] is not None
            if name == "choices":
                fields = "choice_index, content, parsed, status, finish_reason"
                choices = [
                    rows(db, f"select {fields} from choices where request_id = ? "
                         "order by choice_index", row["id"])
                    for row in (old, new)
                ]  # fmt: skip
                assert len(choices[0]) == 3
                assert choices[0] == choices[1]
    assert fake_api.stats.requests == 4


def test_embeddings_are_reused_vector_for_vector(tmp_path, write_job, invoke, fake_api):
    """An embeddings job again under another name stores the same vectors and sends nothing;
    a new text among them is packed and sent on its own."""
    texts = ["tea", "coffee", "water", "juice"]
    for name, words in (("vectors", texts[:3]), ("vectors-again", texts)):
        job = write_job(
            f"{name}.yaml",
            "endpoint: /v1/embeddings\nmodel: text-embedding-3-small\n"
            f"prompts: {json.dumps(words)}\n",
        )
        assert invoke("run", str(job), "--base-url", fake_api.url).exit_code == 0
    assert fake_api.stats.requests == 2
    stored = rows(
        tmp_path / "batchbot.db",
        "select job, content, vector, cached_from is not null as reused from requests "
        "order by job, id",
    )
    first = [r["vector"] for r in stored if r["job"] == "vectors"]
    again = [r for r in stored if r["job"] == "vectors-again"]
    assert [r["vector"] for r in again[:3]] == first
    assert [r["reused"] for r in again] == [1, 1, 1, 0]


def test_a_shared_cache_file_serves_another_project(tmp_path, write_job, invoke, fake_api):
    """--cache PATH: a project's answers are kept in the shared file, and another project
    with its own database is answered from it."""
    shared = tmp_path / "cache.db"
    job = faq(write_job, "faq")
    args = ("--base-url", fake_api.url, "--cache", str(shared))
    assert invoke("run", str(job), *args, "--db", str(tmp_path / "one.db")).exit_code == 0
    assert invoke("run", str(job), *args, "--db", str(tmp_path / "two.db")).exit_code == 0
    assert fake_api.stats.requests == 3
    reused = rows(tmp_path / "two.db", "select cached_from, cost_usd from requests")
    assert len(reused) == 3
    for row in reused:
        origin = json.loads(str(row["cached_from"]))
        assert origin["cache"] == str(shared)
        assert origin["db"] == str((tmp_path / "one.db").resolve())
        assert row["cost_usd"] == 0.0


def test_batch_mode_answers_from_the_cache_before_it_submits(
    tmp_path, write_job, invoke, fake_api, monkeypatch
):
    """A batch run of a job whose requests were answered before submits none of them."""
    monkeypatch.setattr(fake_api.batches, "delay_s", 0.05)
    assert invoke("run", str(faq(write_job, "faq")), "--base-url", fake_api.url).exit_code == 0
    job = faq(write_job, "nightly")
    args = ("--mode", "batch", "--wait", "--poll-interval", "0.05", "--base-url", fake_api.url)
    result = invoke("run", str(job), *args)
    assert result.exit_code == 0, result.output
    assert rows(tmp_path / "batchbot.db", "select count(*) as n from batches") == [{"n": 0}]
    reused = rows(tmp_path / "batchbot.db", "select count(*) as n from requests where "
                  "job = 'nightly' and cached_from is not null")  # fmt: skip
    assert reused == [{"n": 3}]


def test_a_reused_answer_cut_off_is_asked_again_by_the_job_that_wants_more(
    tmp_path, write_job, invoke, fake_api
):
    """on_length: retry re-asks a cut-off answer the cache gave, and pays only for the re-ask."""
    short = write_job(
        "short.yaml",
        "model: gpt-4o-mini\nparams: {temperature: 0, max_tokens: 5}\nprompts:\n  - What is tea?\n",
    )
    assert invoke("run", str(short), "--base-url", fake_api.url).exit_code == 0
    longer = write_job(
        "longer.yaml",
        "model: gpt-4o-mini\nparams: {temperature: 0, max_tokens: 5}\non_length: retry\n"
        "max_tokens_cap: 400\nprompts:\n  - What is tea?\n",
    )
    result = invoke("run", str(longer), "--base-url", fake_api.url)
    assert result.exit_code == 0, result.output
    (row,) = rows(tmp_path / "batchbot.db", "select * from requests where job = 'longer'")
    assert row["status"] == "ok"
    assert row["reasks"] >= 1
    assert row["cost_usd"] == pytest.approx(row["reask_cost_usd"])  # the reused answer: free
    assert row["cost_usd"] > 0
    assert row["cache_key"] is None  # its answer answers the re-ask, not the job's request
    assert fake_api.stats.requests >= 2
