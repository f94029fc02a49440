"""The AWS emulator of local runs: moto's server in this process, on a free loopback port.

`ThreadedMotoServer` serves moto's backends from a thread, so there is no child process to start,
poll or leave behind, and port 0 lets the kernel pick a free port (no race between choosing a port
and binding it). Subprocesses (gitlab-ci-local jobs, model servers) reach it over HTTP like any
AWS endpoint; code in this process gets clients through `client()`, which never touches
`os.environ`, or runs inside `patched_environment()` when it builds its own clients.
"""

from __future__ import annotations

import importlib.util
import json
import os
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

SEED_AWS_SESSION = Path(__file__).resolve().parents[1] / "seedcode" / "model-deploy" / "aws_session.py"
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}


class Emulator:
    """moto's server on 127.0.0.1; use as a context manager."""

    def __init__(self, *, region: str = "eu-west-1", execute_state_machines: bool = False) -> None:
        self.region = region
        self._execute_state_machines = execute_state_machines
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._previous_moto_port: str | None = None
        self.url = ""

    def __enter__(self) -> Emulator:
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        # A fresh emulator per run, even when an earlier one in this process left state behind.
        self._post("/moto-api/reset", {})
        if self._execute_state_machines:
            self._post("/moto-api/config", {"stepfunctions": {"execute_state_machine": True}})
            # Step Functions in moto calls the services its tasks integrate with on localhost:$MOTO_PORT.
            self._previous_moto_port = os.environ.get("MOTO_PORT")
            os.environ["MOTO_PORT"] = str(port)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.stop()
        if self._execute_state_machines:
            if self._previous_moto_port is None:
                os.environ.pop("MOTO_PORT", None)
            else:
                os.environ["MOTO_PORT"] = self._previous_moto_port

    def _post(self, path: str, body: dict[str, Any]) -> None:
        request = urllib.request.Request(f"{self.url}{path}", data=json.dumps(body).encode(), method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass

    def environment(self) -> dict[str, str]:
        """Variables that point boto3 (and the AWS CLI) in a child process at this emulator."""
        return {
            **DUMMY_CREDENTIALS,
            "AWS_ENDPOINT_URL": self.url,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
        }

    def client_args(self) -> dict[str, str]:
        """boto3 client arguments for the emulator, independent of the process environment."""
        return {
            "endpoint_url": self.url,
            "region_name": self.region,
            "aws_access_key_id": DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            "aws_session_token": DUMMY_CREDENTIALS["AWS_SESSION_TOKEN"],
        }

    def client(self, service: str, *, role_chain: str = "") -> Any:
        """A client as the emulator's default account, or as the last role of a comma-separated chain.

        Deploy jobs reach the staging and production accounts through such a chain
        (`DEPLOY_ROLE_ARN_<STAGE>`); a local run follows it with the deploy repository's own
        `aws_session.session_for` to look at what they deployed.
        """
        base = boto3.session.Session(
            aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=DUMMY_CREDENTIALS["AWS_SESSION_TOKEN"],
            region_name=self.region,
        )
        session = _deploy_aws_session().session_for(
            role_chain, self.region, session_name="local-run", base=base, endpoint_url=self.url
        )
        return session.client(service, endpoint_url=self.url)

    def patched_environment(self) -> AbstractContextManager[None]:
        """The emulator's settings in `os.environ` for one call of code that makes its own clients.

        Restored afterwards, so nothing else in the process (tests running beside a local run
        included) stays pointed at the emulator.
        """
        return patched_environ(self.environment())


@contextmanager
def patched_environ(values: Mapping[str, str]) -> Iterator[None]:
    """`values` in `os.environ` inside the block, the previous values (or none) restored after it."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@cache
def _deploy_aws_session() -> ModuleType:
    """The deploy repository's `aws_session` module (it must stand alone there, so it is loaded by path)."""
    spec = importlib.util.spec_from_file_location("model_deploy_aws_session", SEED_AWS_SESSION)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {SEED_AWS_SESSION}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
