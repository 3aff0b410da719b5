"""Rate-limit presets: the shipped file parses, models find their family, bad names explained."""

from __future__ import annotations

import itertools
from importlib import resources
from typing import Any

import pytest
import yaml

from batchbot.errors import ConfigError, InputError
from batchbot.fake import known
from batchbot.limits.tiers import (
    DEFAULT_CONCURRENCY,
    DEFAULT_TIER,
    TierLimits,
    family_for,
    limits_for,
    load_tiers,
    parse_tiers,
    preset_rows,
    tier_names,
)

OPENAI_TIERS = ["free", "tier-1", "tier-2", "tier-3", "tier-4", "tier-5"]
TUTORIAL_TIERS = ["free-trial", "payg-new", "payg-established"]
FAMILIES = [
    "default",
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-4.1-nano",
    "o3-mini",
    "o4-mini",
    "gpt-5",
    "gpt-5-mini",
    "gpt-5-nano",
    "gpt-3.5-turbo",
    "gpt-4",
    "gpt-4-turbo",
    "text-embedding",
]


def test_tier_names_in_file_order() -> None:
    """OpenAI's usage tiers come first, then the tutorial's three rows."""
    assert tier_names() == OPENAI_TIERS + TUTORIAL_TIERS


def test_defaults() -> None:
    """The default tier is tier-1 and the default concurrency comes from the file."""
    assert DEFAULT_TIER == "tier-1"
    assert DEFAULT_TIER in tier_names()
    assert DEFAULT_CONCURRENCY == load_tiers().default_concurrency == 100


def test_load_tiers_is_cached() -> None:
    """The file is read once per process."""
    assert load_tiers() is load_tiers()


@pytest.mark.parametrize("tier", OPENAI_TIERS + TUTORIAL_TIERS)
@pytest.mark.parametrize("family", FAMILIES)
def test_every_tier_and_family_has_limits(tier: str, family: str) -> None:
    """Every family resolves at every tier to positive whole limits."""
    limits = limits_for(tier, family)
    assert isinstance(limits, TierLimits)
    assert limits.rpm >= 1
    assert limits.tpm >= 1
    assert limits.batch_queue_tokens is None or limits.batch_queue_tokens >= limits.tpm


@pytest.mark.parametrize("family", FAMILIES)
def test_limits_never_fall_as_tiers_rise(family: str) -> None:
    """Paying more never lowers a limit: tier-1 through tier-5 are non-decreasing."""
    ladder = [limits_for(tier, family) for tier in OPENAI_TIERS[1:]]
    for lower, higher in itertools.pairwise(ladder):
        assert higher.rpm >= lower.rpm
        assert higher.tpm >= lower.tpm


@pytest.mark.parametrize(
    ("tier", "model", "expected"),
    [
        ("tier-1", "gpt-4o-mini", TierLimits(500, 200_000, 2_000_000)),
        ("tier-5", "gpt-4o-mini", TierLimits(30_000, 150_000_000, 15_000_000_000)),
        ("free", "gpt-4o-mini", TierLimits(3, 40_000, None)),
        ("tier-1", "gpt-4o", TierLimits(500, 30_000, 90_000)),
        ("tier-1", "gpt-5", TierLimits(500, 500_000, 1_500_000)),
        ("tier-5", "gpt-5-mini", TierLimits(30_000, 180_000_000, 15_000_000_000)),
        ("tier-1", "gpt-3.5-turbo", TierLimits(3_500, 200_000, 2_000_000)),
        ("free-trial", "gpt-4o-mini", TierLimits(3, 40_000, None)),
        ("payg-new", "gpt-3.5-turbo", TierLimits(60, 150_000, None)),
        ("payg-established", "anything", TierLimits(3_500, 90_000, None)),
        ("free", "gpt-5", TierLimits(3, 40_000, None)),  # not offered: falls back to default
    ],
)
def test_published_figures(tier: str, model: str, expected: TierLimits) -> None:
    """Spot checks against OpenAI's published tables and the tutorial's."""
    assert limits_for(tier, model) == expected


@pytest.mark.parametrize(
    ("model", "family"),
    [
        ("gpt-4o-mini", "gpt-4o-mini"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("gpt-4o", "gpt-4o"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("gpt-4o-mini-search-preview", "gpt-4o-mini"),
        ("gpt-4.1", "gpt-4.1"),
        ("gpt-4.1-2025-04-14", "gpt-4.1"),
        ("gpt-4.1-mini-2025-04-14", "gpt-4.1-mini"),
        ("gpt-4.1-nano", "gpt-4.1-nano"),
        ("o3-mini-2025-01-31", "o3-mini"),
        ("o4-mini", "o4-mini"),
        ("gpt-5", "gpt-5"),
        ("gpt-5-2025-08-07", "gpt-5"),
        ("gpt-5-mini-2025-08-07", "gpt-5-mini"),
        ("gpt-5-nano", "gpt-5-nano"),
        ("gpt-3.5-turbo-0125", "gpt-3.5-turbo"),
        ("GPT-4o-Mini", "gpt-4o-mini"),
        (" gpt-4o-mini ", "gpt-4o-mini"),
        ("ft:gpt-4o-mini-2024-07-18:acme::abc123", "gpt-4o-mini"),
        ("gpt-4", "gpt-4"),
        ("gpt-4-0613", "gpt-4"),
        ("gpt-4-turbo-2024-04-09", "gpt-4-turbo"),
        ("gpt-4o-mni", "default"),
        ("gpt-4o-minis", "default"),
        ("o3", "gpt-4o"),
        ("o3-2025-04-16", "gpt-4o"),
        ("o3-mini", "o3-mini"),
        ("o1-mini-2024-09-12", "o3-mini"),
        ("text-embedding-3-small", "text-embedding"),
        ("text-embedding-3-large", "text-embedding"),
        ("text-embedding-ada-002", "text-embedding"),
        ("text-embedding-3-tiny", "default"),
        ("gpt-5.1-2025-11-13", "gpt-5"),
        ("ft:gpt-4.1-nano-2025-04-14:acme::x", "gpt-4.1-nano"),
        ("llama-3.1-8b-instruct", "default"),
        ("", "default"),
    ],
)
def test_family_by_longest_prefix(model: str, family: str) -> None:
    """Snapshots and fine-tunes map to their family; unknown models to the default."""
    presets = load_tiers()
    assert family_for(model, presets.families, presets.aliases) == family
    assert presets.family(model) == family


@pytest.mark.parametrize(
    "endpoint", sorted(known.MODELS), ids=lambda endpoint: endpoint.removeprefix("/v1/")
)
def test_every_model_the_fake_serves_is_in_a_family(endpoint: str) -> None:
    """Each model the simulated API serves, on every endpoint, has a family of its own figures."""
    presets = load_tiers()
    homeless = [model for model in known.MODELS[endpoint] if presets.family(model) == "default"]
    assert homeless == []


@pytest.mark.parametrize("tier", ["Tier 1", "TIER-1", "tier_1", " tier-1 "])
def test_tier_names_are_forgiving(tier: str) -> None:
    """Case, spaces and underscores in a tier name do not matter."""
    assert limits_for(tier, "gpt-4o-mini") == limits_for("tier-1", "gpt-4o-mini")


@pytest.mark.parametrize(
    ("tier", "suggestion"),
    [
        ("tier1", "Did you mean 'tier-1'?"),
        ("tier-6", "Did you mean 'tier-5'?"),
        ("payg", "Did you mean 'payg-new'?"),
        ("enterprise", ""),
    ],
)
def test_unknown_tier_is_explained(tier: str, suggestion: str) -> None:
    """An unknown tier is an input error that suggests a near name and lists them all."""
    with pytest.raises(ConfigError) as caught:
        limits_for(tier, "gpt-4o-mini")
    message = str(caught.value)
    assert isinstance(caught.value, InputError)
    assert message.startswith(f"Unknown tier {tier!r}.")
    assert suggestion in message
    assert "Did you mean" in message or not suggestion
    assert "Known tiers: " + ", ".join(OPENAI_TIERS + TUTORIAL_TIERS) in message
    assert "limits: {rpm: 500, tpm: 200000}" in message


def test_the_shipped_file_is_safe_yaml_with_comments() -> None:
    """The file users read is plain YAML with comments saying that headers win."""
    text = (resources.files("batchbot.limits") / "tiers.yaml").read_text(encoding="utf-8")
    assert "headers win" in text
    assert isinstance(yaml.safe_load(text), dict)


def good_data() -> dict[str, Any]:
    """A minimal valid presets document: two tiers, a default family and one more."""
    return {
        "default_concurrency": 10,
        "tiers": {"t1": "Tier one.", "t2": "Tier two."},
        "models": {
            "default": {"t1": {"rpm": 1, "tpm": 10}, "t2": {"rpm": 2, "tpm": 20}},
            "m": {"t2": {"rpm": 5, "tpm": 50, "batch_queue_tokens": 500}},
        },
        "same_as": {"n": "m"},
    }


def test_parse_tiers_accepts_a_minimal_file() -> None:
    """A small well-formed file parses, and missing tiers fall back to the default family."""
    parsed = parse_tiers(good_data())
    assert parsed.limits_for("t2", "m-2025") == TierLimits(5, 50, 500)
    assert parsed.limits_for("t1", "m-2025") == TierLimits(1, 10, None)
    assert parsed.limits_for("t2", "n") == TierLimits(5, 50, 500)  # same_as: {n: m}
    assert parsed.default_concurrency == 10


def broken(path: str, value: Any) -> dict[str, Any]:
    """good_data() with the item at dotted `path` replaced (or removed, for ...)."""
    data = good_data()
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node[key]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "the file must be a mapping"),
        (broken("tiers", ...), "`tiers` must map each tier name"),
        (broken("models.default", ...), "with a 'default' family"),
        (broken("models.default.t2", ...), "must cover every tier; missing ['t2']"),
        (broken("models.m", "fast"), "model family 'm' must map tiers to limits"),
        (broken("models.m.t3", {"rpm": 1, "tpm": 1}), "names tiers not listed under `tiers`"),
        (broken("models.m.t2", 5), "m.t2 must be a mapping like"),
        (broken("models.m.t2.rpm", 0), "m.t2.rpm must be a whole number of at least 1"),
        (broken("models.m.t2.tpm", "lots"), "m.t2.tpm must be a whole number"),
        (broken("models.m.t2.rpm", True), "m.t2.rpm must be a whole number"),
        (broken("models.m.t2.rpm", 1.5), "m.t2.rpm must be a whole number"),
        (broken("models.m.t2.batch_queue_tokens", -1), "m.t2.batch_queue_tokens must be"),
        (broken("models.m.t2.rpd", 5), "m.t2 has unknown keys ['rpd']"),
        (broken("default_concurrency", ...), "default_concurrency must be a whole number"),
        (broken("same_as", ["x"]), "`same_as` must map models to the family"),
        (broken("same_as", {"x": "nope"}), "`same_as` names families not listed"),
    ],
)
def test_parse_tiers_names_what_is_wrong(data: Any, message: str) -> None:
    """A broken presets file is a ConfigError naming the file and the bad entry."""
    with pytest.raises(ConfigError) as caught:
        parse_tiers(data)
    assert str(caught.value).startswith("tiers.yaml: ")
    assert message in str(caught.value)


def test_preset_rows_cover_every_family_and_listed_tier():
    """Without filters, one row per family and tier the file lists, in the file's order."""
    rows = preset_rows()
    presets = load_tiers()
    assert len(rows) == sum(len(tiers) for tiers in presets.families.values())
    assert [r.tier for r in rows if r.family == "default"] == OPENAI_TIERS + TUTORIAL_TIERS
    assert not any(r.inherited for r in rows)


def test_preset_rows_for_a_model_fill_in_from_default():
    """A model shows every tier; those its family lacks come from default, marked so."""
    rows = preset_rows("gpt-4o-2024-08-06")
    assert {r.family for r in rows} == {"gpt-4o"}
    assert [r.tier for r in rows] == OPENAI_TIERS + TUTORIAL_TIERS
    inherited = {r.tier for r in rows if r.inherited}
    assert inherited == {"free", *TUTORIAL_TIERS}
    (tier_1,) = preset_rows("gpt-4o-mini", "Tier 1")
    assert (tier_1.limits.rpm, tier_1.limits.tpm) == (500, 200_000)
    with pytest.raises(ConfigError, match="Did you mean 'tier-5'"):
        preset_rows(tier="tier-9")


def test_limits_command_prints_the_presets(invoke):
    """`batchbot limits` prints tier, RPM and TPM per family and says the headers win."""
    result = invoke("limits", "--model", "gpt-4o-mini", "--tier", "tier-1")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["family", "tier", "RPM", "TPM", "batch", "queue"]
    assert lines[1].split() == ["gpt-4o-mini", "tier-1", "500", "200,000", "2,000,000"]
    assert "headers win" in result.output
    everything = invoke("limits")
    assert everything.exit_code == 0
    assert "payg-established" in everything.output
    assert "gpt-5-mini" in everything.output
    typo = invoke("limits", "--model", "gpt-4o-mni", "--tier", "tier-1")
    assert typo.stdout.splitlines()[1].split()[:2] == ["default", "tier-1"]
    assert typo.stderr == (
        "batchbot: 'gpt-4o-mni' is in no model family of tiers.yaml (did you mean 'gpt-4o-mini'?):"
        " a run uses the default limits.\n"
    )
    bad = invoke("limits", "--tier", "gold")
    assert bad.exit_code == 2
    assert "Unknown tier 'gold'" in bad.output


@pytest.mark.parametrize(
    ("model", "rpm", "tpm"),
    [
        ("text-embedding-3-small", "3,000", "1,000,000"),
        ("text-embedding-3-large", "3,000", "1,000,000"),
        ("text-embedding-ada-002", "3,000", "1,000,000"),
        ("o3-pro", "500", "30,000"),
    ],
)
def test_limits_command_knows_embeddings_and_responses_only_models(invoke, model, rpm, tpm):
    """Embeddings and Responses-only models get their family's figures, with no warning."""
    result = invoke("limits", "--model", model, "--tier", "tier-1")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert result.stdout.splitlines()[1].split()[2:4] == [rpm, tpm]


def test_limits_command_warns_only_for_unknown_models(invoke):
    """A model in no family (a typo) gets the default figures and one line saying so."""
    result = invoke("limits", "--model", "text-embeding-3-small", "--tier", "tier-1")
    assert result.exit_code == 0
    assert result.stderr == (
        "batchbot: 'text-embeding-3-small' is in no model family of tiers.yaml (did you mean "
        "'text-embedding-3-small'?): a run uses the default limits.\n"
    )
