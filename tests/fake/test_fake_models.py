"""The fake's Models API, read with the openai SDK, and `fake-server --port 0` saying its port."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import openai
import pytest

import batchbot


@pytest.fixture
def client(fake_api):
    """The real synchronous SDK client on the session's fake server."""
    with openai.OpenAI(base_url=fake_api.url, api_key="sk-test", max_retries=0) as sdk:
        yield sdk


def test_models_list_names_the_chat_and_embeddings_models(client):
    """client.models.list() pages through model objects shaped as the API's."""
    models = {model.id: model for model in client.models.list()}
    assert {"gpt-4o-mini", "gpt-4.1", "o3-mini", "text-embedding-3-small"} <= models.keys()
    assert models["gpt-4o-mini"].object == "model"
    assert models["gpt-4o-mini"].owned_by == "system"


@pytest.mark.parametrize(
    "model", ["gpt-4o-mini", "gpt-4o-mini-2024-07-18", "ft:gpt-4o-mini:acme::abc123"]
)
def test_a_served_model_is_retrieved(client, model):
    """A base name, a dated snapshot and a fine-tune are each one model object."""
    found = client.models.retrieve(model)
    assert (found.id, found.object) == (model, "model")


def test_an_unknown_model_is_the_apis_404(client):
    """A model the fake does not serve is a 404 model_not_found, as the API answers it."""
    with pytest.raises(openai.NotFoundError) as caught:
        client.models.retrieve("gpt-4o-mni")
    assert caught.value.code == "model_not_found"
    assert "gpt-4o-mni" in caught.value.message


@pytest.mark.parametrize("path", ["/models", "/models/gpt-4o-mini"])
def test_the_models_api_wants_a_key(fake_api, path):
    """Without a key the Models API answers 401, as the API's does."""
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(fake_api.url + path, timeout=5)
    caught.value.close()
    assert caught.value.code == 401


def test_fake_server_on_port_0_prints_the_port_it_bound():
    """`batchbot fake-server --port 0` prints the URL with the port it got, which the SDK
    then lists models from."""
    env = {**os.environ, "PYTHONPATH": str(Path(batchbot.__file__).parents[1])}
    pipe = subprocess.PIPE
    proc = subprocess.Popen(
        [sys.executable, "-m", "batchbot", "fake-server", "--port", "0"],
        stdout=pipe,
        stderr=pipe,
        env=env,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.fullmatch(r"fake OpenAI API on (http://127\.0\.0\.1:(\d+)/v1) .*\n", line)
        assert match, line
        assert int(match[2]) > 0
        with openai.OpenAI(base_url=match[1], api_key="sk-test", max_retries=0) as sdk:
            assert any(model.id == "gpt-4o-mini" for model in sdk.models.list())
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
    assert proc.returncode == 0
