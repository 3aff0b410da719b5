"""Which engine a run uses, sync, Flex or the Batch API, and whether the job can use it.

`--mode auto` is resolved here by the rule in `modes`, weighing the job's size at its limits,
its deadline and whether its model is offered on Flex where it is sent; the dry run shows the
same choice.
"""

from __future__ import annotations

from batchbot import modes
from batchbot.config import Config
from batchbot.endpoints import EMBEDDINGS
from batchbot.errors import ConfigError
from batchbot.jobs.job import Job
from batchbot.money.pricing import FLEX, Pricer
from batchbot.run.connect import open_store
from batchbot.run.estimate import Estimate, estimate_job, pricer_for

__all__ = ["check_mode", "flex_offered", "resolve_mode"]

AZURE_BATCH = (
    "batchbot does not run Azure OpenAI's Batch API yet (it needs a global-batch deployment): "
    "run this job with --mode sync, or through OpenAI without --azure-endpoint."
)
AZURE_FLEX = (
    "Flex processing is OpenAI's, not Azure OpenAI's: run this job with --mode sync, or "
    "through OpenAI without --azure-endpoint."
)
NO_FLEX = (
    "no Flex price is known for model {model!r}: OpenAI offers Flex processing for some models "
    "only (gpt-5 and its mini and nano, o3, o4-mini and newer). Run this job with --mode sync, "
    "or, if your server offers Flex for it, add its prices: {{{model}: {{input: ..., output: "
    "..., flex: {{input: ..., output: ...}}}}}}."
)
EMBEDDINGS_FLEX = (
    "Flex processing serves chat and Responses requests, not embeddings: run this job with "
    "--mode sync, or --mode batch for half the price."
)


def check_mode(job: Job, config: Config, pricer: Pricer) -> None:
    """Batch mode and Flex are OpenAI's, and Flex only for some models: say so for a job they
    cannot serve, before anything is sent."""
    if config.mode == modes.BATCH and config.azure is not None:
        raise ConfigError(AZURE_BATCH)
    if config.mode != modes.FLEX:
        return
    if config.azure is not None:
        raise ConfigError(AZURE_FLEX)
    if job.endpoint == EMBEDDINGS:
        raise ConfigError(EMBEDDINGS_FLEX)
    if config.model and pricer.quiet(config.model, tier=FLEX) is None:
        raise ConfigError(NO_FLEX.format(model=pricer.priced_as(config.model)))


def flex_offered(job: Job, config: Config, pricer: Pricer) -> bool:
    """Whether `--mode auto` may send this job on Flex: a chat or Responses job for OpenAI
    itself (not Azure, not another server), whose model has a Flex price."""
    if job.endpoint == EMBEDDINGS or config.azure is not None or config.base_url is not None:
        return False
    return config.model is not None and pricer.quiet(config.model, tier=FLEX) is not None


def resolve_mode(job: Job, config: Config, estimate: Estimate | None = None) -> modes.ModeChoice:
    """sync, Flex or batch for this run; `--mode auto` follows the rule in `modes`."""
    if config.mode != modes.AUTO:
        return modes.choose_mode(
            config.mode, to_send=0, sync_minutes=0.0, chosen_by=config.mode_from
        )
    estimate = estimate or estimate_job(job, config)
    open_batches = 0
    if config.db_path.exists():
        store = open_store(config)
        try:
            open_batches = len(store.batches.open(job.name))
        finally:
            store.close()
    return modes.choose_mode(
        modes.AUTO,
        to_send=estimate.to_send,
        sync_minutes=estimate.minutes,
        open_batches=open_batches,
        deadline_minutes=config.deadline_minutes,
        flex=flex_offered(job, config, pricer_for(job, config)),
    )
