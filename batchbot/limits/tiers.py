"""Rate-limit presets: where a run starts pacing, per usage tier and model family.

The figures live in `tiers.yaml`, a commented file users can read. They are only a starting
point: the limiter follows the server's x-ratelimit-* headers, lower at once, higher once
the server has kept saying so for a couple of seconds. `batchbot limits` prints them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

import yaml

from batchbot.errors import ConfigError
from batchbot.spelling import closest

# What may follow a family's name in a model's: a date or a 4-digit snapshot, or a variant such
# as `search-preview` or `chat-latest`.
SNAPSHOT = re.compile(r"(\d{4}(-\d{2}-\d{2})?|([a-z]+-)*(preview|latest))(-\d{4}(-\d{2}-\d{2})?)?")

DEFAULT_TIER = "tier-1"
DEFAULT_FAMILY = "default"
TIERS_FILE = "tiers.yaml"

UNKNOWN_TIER = (
    "Unknown tier {tier!r}.{hint} Known tiers: {known}. "
    "Or set the limits yourself: limits: {{rpm: 500, tpm: 200000}}."
)


@dataclass(frozen=True, slots=True)
class TierLimits:
    """Per-minute limits for one model family at one tier."""

    rpm: int
    tpm: int
    batch_queue_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class Tiers:
    """The whole presets file: tier descriptions and limits by family, then tier."""

    descriptions: Mapping[str, str]
    families: Mapping[str, Mapping[str, TierLimits]]
    default_concurrency: int
    # Models with another family's figures (`same_as:`): embeddings, Responses-only models.
    aliases: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def limits_for(self, tier: str, model: str) -> TierLimits:
        """The limits of `model`'s family at `tier`, else the `default` family's."""
        name = normalize_tier(tier)
        if name not in self.descriptions:
            raise ConfigError(unknown_tier_message(tier, list(self.descriptions)))
        family = self.families[self.family(model)]
        return family.get(name) or self.families[DEFAULT_FAMILY][name]

    def family(self, model: str) -> str:
        """The family whose figures `model` uses (see `family_for`)."""
        return family_for(model, self.families, self.aliases)


@dataclass(frozen=True, slots=True)
class PresetRow:
    """One line of `batchbot limits`: a model family's limits at one tier."""

    family: str
    tier: str
    limits: TierLimits
    inherited: bool  # the family does not list this tier; the default family's figures apply


def preset_rows(model: str | None = None, tier: str | None = None) -> list[PresetRow]:
    """Every family's presets, tier by tier in the file's order; or only `model`'s family.

    With a model, tiers its family does not list show the `default` family's figures, as a
    run would use them. Unknown tiers raise ConfigError with a did-you-mean.
    """
    presets = load_tiers()
    tiers = list(presets.descriptions)
    if tier is not None:
        name = normalize_tier(tier)
        if name not in presets.descriptions:
            raise ConfigError(unknown_tier_message(tier, tiers))
        tiers = [name]
    families = [presets.family(model)] if model else list(presets.families)
    rows = []
    for family in families:
        listed = presets.families[family]
        for name in tiers:
            if name in listed:
                rows.append(PresetRow(family, name, listed[name], inherited=False))
            elif model:
                rows.append(PresetRow(family, name, presets.limits_for(name, model), True))
    return rows


def family_for(
    model: str, families: Mapping[str, object], aliases: Mapping[str, str] | None = None
) -> str:
    """The longest family name (or alias of one) `model` is, or is a snapshot of, else
    "default"; an alias stands for the family it names.

    Dated snapshots and variants share their family's limits (gpt-4o-mini-2024-07-18,
    gpt-4o-mini-search-preview -> gpt-4o-mini), and so do fine-tunes
    (ft:gpt-4o-mini-2024-07-18:org::id); a typo (gpt-4o-mni) is not taken for gpt-4o.
    """
    aliases = aliases or {}
    name = model.strip().lower()
    if name.startswith("ft:"):
        name = name.split(":")[1]
    matches = [
        f
        for f in (*families, *aliases)
        if f != DEFAULT_FAMILY
        and (name == f or (name.startswith(f"{f}-") and SNAPSHOT.fullmatch(name[len(f) + 1 :])))
    ]
    best = max(matches, key=len, default=DEFAULT_FAMILY)
    return aliases.get(best, best)


def unknown_model_note(model: str) -> str | None:
    """For a model in no family: that the default family's limits apply, and a did-you-mean."""
    presets = load_tiers()
    if presets.family(model) != DEFAULT_FAMILY:
        return None
    names = [*presets.families, *presets.aliases]
    close = closest(model.strip().lower(), names, most=2)
    hint = f" (did you mean {close!r}?)" if close else ""
    return f"{model!r} is in no model family of tiers.yaml{hint}: a run uses the default limits."


def normalize_tier(tier: str) -> str:
    """The canonical tier name: "Tier 1", "tier_1" and "TIER-1" all become "tier-1"."""
    return "-".join(tier.strip().lower().replace("_", " ").split())


def unknown_tier_message(tier: str, known: list[str]) -> str:
    """Say the tier is unknown, suggest the nearest known name, and list them all."""
    close = closest(normalize_tier(tier), known)
    hint = f" Did you mean {close!r}?" if close else ""
    return UNKNOWN_TIER.format(tier=tier, hint=hint, known=", ".join(known))


def parse_tiers(data: Any) -> Tiers:
    """Check and convert the parsed YAML; raise ConfigError naming what is wrong."""
    if not isinstance(data, dict):
        raise _bad("the file must be a mapping")
    descriptions = data.get("tiers")
    models = data.get("models")
    if not isinstance(descriptions, dict) or not descriptions:
        raise _bad("`tiers` must map each tier name to a description")
    if not isinstance(models, dict) or DEFAULT_FAMILY not in models:
        raise _bad(f"`models` must map model families to tiers, with a {DEFAULT_FAMILY!r} family")
    families = {str(f): _family(str(f), v, descriptions) for f, v in models.items()}
    missing = [t for t in descriptions if t not in families[DEFAULT_FAMILY]]
    if missing:
        raise _bad(f"the {DEFAULT_FAMILY!r} family must cover every tier; missing {missing}")
    return Tiers(
        descriptions=MappingProxyType({str(k): str(v) for k, v in descriptions.items()}),
        families=MappingProxyType(families),
        default_concurrency=_positive_int(data.get("default_concurrency"), "default_concurrency"),
        aliases=_aliases(data.get("same_as") or {}, families),
    )


def _aliases(value: Any, families: Mapping[str, object]) -> Mapping[str, str]:
    """`same_as: {model: family}`: each a model of its own that uses a listed family's figures."""
    if not isinstance(value, dict):
        raise _bad("`same_as` must map models to the family whose figures they use")
    unknown = {str(m): f for m, f in value.items() if f not in families or f == DEFAULT_FAMILY}
    if unknown:
        raise _bad(f"`same_as` names families not listed under `models`: {unknown}")
    return MappingProxyType({str(model).lower(): str(family) for model, family in value.items()})


@cache
def load_tiers() -> Tiers:
    """The presets shipped with batchbot (`batchbot/limits/tiers.yaml`), parsed once."""
    text = resources.files("batchbot.limits").joinpath(TIERS_FILE).read_text(encoding="utf-8")
    return parse_tiers(yaml.safe_load(text))


def limits_for(tier: str, model: str) -> TierLimits:
    """Preset limits for `model` at `tier`; ConfigError (with did-you-mean) for unknown tiers."""
    return load_tiers().limits_for(tier, model)


def tier_names() -> list[str]:
    """Every preset tier name, in the file's order."""
    return list(load_tiers().descriptions)


def _family(name: str, tiers: Any, known: Mapping[str, Any]) -> Mapping[str, TierLimits]:
    if not isinstance(tiers, dict):
        raise _bad(f"model family {name!r} must map tiers to limits")
    unknown = [t for t in tiers if t not in known]
    if unknown:
        raise _bad(f"model family {name!r} names tiers not listed under `tiers`: {unknown}")
    return MappingProxyType({str(t): _limits(f"{name}.{t}", v) for t, v in tiers.items()})


def _limits(where: str, value: Any) -> TierLimits:
    if not isinstance(value, dict):
        raise _bad(f"{where} must be a mapping like {{rpm: 500, tpm: 30000}}")
    extra = set(value) - {"rpm", "tpm", "batch_queue_tokens"}
    if extra:
        raise _bad(f"{where} has unknown keys {sorted(extra)}")
    queue = value.get("batch_queue_tokens")
    if queue is not None:
        queue = _positive_int(queue, f"{where}.batch_queue_tokens")
    return TierLimits(
        rpm=_positive_int(value.get("rpm"), f"{where}.rpm"),
        tpm=_positive_int(value.get("tpm"), f"{where}.tpm"),
        batch_queue_tokens=queue,
    )


def _positive_int(value: Any, where: str) -> int:
    # bool is an int in Python; `rpm: yes` is a mistake, not 1.
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _bad(f"{where} must be a whole number of at least 1, not {value!r}")
    return value


def _bad(reason: str) -> ConfigError:
    return ConfigError(f"{TIERS_FILE}: {reason}")


# The file is package data, so reading it at import is safe; an edit that breaks it fails
# loudly here rather than halfway into a run.
DEFAULT_CONCURRENCY: int = load_tiers().default_concurrency
