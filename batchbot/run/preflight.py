"""What a run refuses before it sends anything, besides what reading the job checks.

Reading a job (`jobs`) refuses what no server takes: a broken line, a number out of range, a
parameter the endpoint does not have. The run's settings add two things that would fail every
request, or leave a budget unable to hold; each stops the job with exit 2 and nothing sent:

- under a budget, every item's cost must have a bound: a price for its model and a cap on its
  answer (`max_tokens`, `max_completion_tokens`, `max_output_tokens` for Responses);
- against OpenAI's own API (or the simulated one of `--fake`), a model batchbot has no price
  for is looked up (`GET /v1/models/{model}`); one the API does not have stops the job, with
  the model probably meant. Compatible servers and Azure deployments name models freely.

The items are checked while the job is validated; the models once the client is up.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import openai

from batchbot.api.client import ChatClient
from batchbot.config import Config
from batchbot.errors import ConfigError
from batchbot.jobs.job import Item, Job
from batchbot.money.pricing import Pricer, did_you_mean
from batchbot.run.budget import CAP_KEYS, NO_CAP, NO_PRICE

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
        self.cap_keys = CAP_KEYS.get(job.endpoint, ())
        self.budgeted = config.max_cost_usd is not None or config.max_cost_per_day_usd is not None
        self.pricer = pricer
        self.price_as = job.settings.price_as  # every model priced as this one, if set
        self.models: dict[str, None] = {}  # in the order the job names them

    def check(self, item: Item) -> None:
        """Raise ConfigError for an item whose cost a budget could not bound."""
        model = str(item.body.get("model", ""))
        if model not in self.models and len(self.models) < MOST_MODELS:
            self.models[model] = None
        if not self.budgeted:
            return
        if not self.pricer.knows(self.price_as or model):
            raise ConfigError(NO_PRICE.format(model=model, suggestion=did_you_mean(model)))
        if self.cap_keys and not any(item.body.get(key) for key in self.cap_keys):
            raise ConfigError(NO_CAP.format(item=item.id))

    async def check_models(self, client: ChatClient, config: Config) -> None:
        """Raise ConfigError for a model OpenAI's API does not have; only models with no price
        are asked about, and only OpenAI's API. Any other answer leaves the question to the
        run: a key restricted to some endpoints may not read models, yet use them."""
        if not against_openai(config):
            return
        for model in self.models:
            if self.pricer.knows(model):
                continue
            try:
                found = await client.has_model(model)
            except openai.APIError:
                return
            if not found:
                raise ConfigError(NO_MODEL.format(model=model, suggestion=did_you_mean(model)))
