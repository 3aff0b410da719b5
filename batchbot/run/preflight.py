"""What a run refuses before it sends anything, besides what reading the job checks.

Reading a job (`jobs`) refuses what no server takes: a broken line, a number out of range, a
parameter the endpoint does not have. The run's settings add two things that would fail every
request, or leave a budget unable to hold; each stops the job with exit 2 and nothing sent:

- under a budget, every item's cost must have a bound: a price for its model at every tier it
  may be billed at, found by the lookup the budget itself makes (`budget.bounded_prices`:
  `prices:`, a prices file, `price_as:`, genai-prices), and a cap on its answer
  (`max_tokens`, `max_completion_tokens`, `max_output_tokens` for Responses);
- against OpenAI's own API (or the simulated one of `--fake`), a model batchbot has no price
  for is looked up (`GET /v1/models/{model}`); one the API does not have stops the job, with
  the model probably meant. Compatible servers and Azure deployments name models freely.

The items are checked while the job is validated; the models once the client is up.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from batchbot import modes
from batchbot.api.client import ChatClient
from batchbot.api.exceptions import ApiError
from batchbot.config import Config
from batchbot.errors import BudgetUnbounded, ConfigError
from batchbot.jobs.job import Item, Job
from batchbot.money.budget import bounded_prices
from batchbot.money.pricing import Pricer, did_you_mean

__all__ = ["Preflight", "against_openai"]

OPENAI_HOST = "api.openai.com"
# Models looked up at most: a JSONL job names one a line, but hardly ever more than a few.
MOST_MODELS = 20
NO_MODEL = (
    "the API has no model {model!r} this key can use{suggestion}, so it would refuse every "
    "request: fix model: in the job (or pass --model). Nothing was sent."
)


def against_openai(config: Config) -> bool:
    """Whether the run talks to OpenAI's own API (or the simulated one, which acts as it)."""
    if config.azure is not None:
        return False
    return (
        config.fake
        or config.base_url is None
        or urlsplit(config.base_url).hostname == (OPENAI_HOST)
    )


class Preflight:
    """Checks a job's items as they are validated (`check`), then its models (`check_models`)."""

    def __init__(self, job: Job, config: Config, pricer: Pricer) -> None:
        self.endpoint = job.endpoint
        self.budgeted = config.max_cost_usd is not None or config.max_cost_per_day_usd is not None
        self.pricer = pricer
        # Priced as the run will send them: at Batch prices, or each at Flex's.
        self.tier, self.batch = modes.service_tier(config.mode), config.mode == modes.BATCH
        self.models: dict[str, None] = {}  # in the order the job names them

    def check(self, item: Item) -> None:
        """Raise ConfigError for an item whose cost a budget could not bound."""
        model = str(item.body.get("model", ""))
        if model not in self.models and len(self.models) < MOST_MODELS:
            self.models[model] = None
        if not self.budgeted:
            return
        try:
            bounded_prices(
                item.id,
                item.body,
                self.pricer,
                batch=self.batch,
                endpoint=self.endpoint,
                tier=self.tier,
            )
        except BudgetUnbounded as exc:
            raise ConfigError(str(exc)) from None

    async def check_models(self, client: ChatClient, config: Config) -> None:
        """Raise ConfigError for a model OpenAI's API does not have; only models with no price
        of their own (`price_as:` lends one) are asked about, and only OpenAI's API. Any other
        answer leaves the question to the run: a key restricted to some endpoints may not read
        models, yet use them."""
        if not against_openai(config):
            return
        for model in self.models:
            if self.pricer.priced_as(model) == model and self.pricer.quiet(model) is not None:
                continue  # a model genai-prices prices is one OpenAI has
            try:
                found = await client.has_model(model)
            except ApiError:
                return
            if not found:
                raise ConfigError(NO_MODEL.format(model=model, suggestion=did_you_mean(model)))
