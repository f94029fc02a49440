"""The models the function serves: `artifactId` -> model package group -> newest approved version, loaded.

Each `artifactId` of the configuration names a model package group. The first request for it (or the
function's init, for the default one) resolves the group's newest approved version, downloads its
`model.tar.gz` into `/tmp` (only the metadata and the engine's file) and loads it. The version is checked
again at most every `refresh_seconds` (a wall-clock interval, so it also holds across a SnapStart restore):
a newly approved version is then served, and when every version was rejected the model is no longer served.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from model_fetch.download import fetch, prune
from model_fetch.registry import ModelNotAvailable, ModelVersion, latest_approved
from pytorch_container import artifact, engines
from pytorch_container.predictor import Predictor, PredictorSettings

LOG = logging.getLogger(__name__)


class UnknownModel(Exception):
    """An `artifactId` the configuration does not name; the message lists the ones it does."""


@dataclass
class Served:
    """A loaded version and when its approval was last checked (epoch seconds)."""

    version: ModelVersion
    predictor: Predictor
    checked_at: float


@dataclass(frozen=True)
class Catalog:
    """The configured models: `artifactId` -> model package group, the default one and where models may come from."""

    groups: Mapping[str, str]
    default: str
    buckets: frozenset[str]
    refresh_seconds: float
    cache_root: Path

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Catalog:
        """`MODELS` (JSON object), `DEFAULT_MODEL`, `MODEL_BUCKETS`, `MODEL_REFRESH_SECONDS`, `MODEL_CACHE_DIR`."""
        groups = json.loads(environ["MODELS"])
        if not isinstance(groups, dict) or not groups or not all(isinstance(v, str) for v in groups.values()):
            raise ValueError("MODELS must be a JSON object of artifactId -> model package group name")
        default = environ.get("DEFAULT_MODEL") or next(iter(groups))
        if default not in groups:
            raise ValueError(f"DEFAULT_MODEL {default!r} is not one of MODELS {sorted(groups)}")
        return cls(
            groups=groups,
            default=default,
            buckets=frozenset(name for name in environ["MODEL_BUCKETS"].split(",") if name),
            refresh_seconds=float(environ.get("MODEL_REFRESH_SECONDS", "300")),
            cache_root=Path(environ.get("MODEL_CACHE_DIR", "/tmp/models")),
        )


class ModelCache:
    """The loaded models, one per `artifactId`, kept current with the registry's approvals."""

    def __init__(
        self,
        catalog: Catalog,
        *,
        sagemaker: Any,
        s3: Any,
        settings: PredictorSettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.catalog = catalog
        self._sagemaker = sagemaker
        self._s3 = s3
        self._settings = settings
        self._clock = clock
        self._served: dict[str, Served] = {}
        # Only what the engine reads is unpacked: less to write to /tmp, less to read at init.
        self._files = {artifact.METADATA_FILE, engines.ENGINE_FILES[settings.engine]}

    def get(self, artifact_id: str) -> Served:
        """The served version of `artifact_id`, resolved and loaded when due.

        Raises `UnknownModel` for an `artifactId` not configured, `ModelNotAvailable` when the group has
        no approved version (or its model cannot be fetched), and boto errors when the registry cannot
        be reached and nothing is loaded yet.
        """
        group = self.catalog.groups.get(artifact_id)
        if group is None:
            raise UnknownModel(f"unknown artifactId {artifact_id!r}; expected one of {sorted(self.catalog.groups)}")
        served = self._served.get(artifact_id)
        now = self._clock()
        if served is not None and now - served.checked_at < self.catalog.refresh_seconds:
            return served
        try:
            version = latest_approved(self._sagemaker, group)
        except (ClientError, BotoCoreError) as error:
            if served is None:
                raise
            LOG.warning(
                "keeping %s for %s: the registry could not be asked (%s)", served.version.arn, artifact_id, error
            )
            served.checked_at = now
            return served
        except ModelNotAvailable:
            self._served.pop(artifact_id, None)
            raise
        if served is not None and served.version.arn == version.arn:
            served.checked_at = now
            return served
        directory = fetch(
            self._s3, version, self.catalog.cache_root, allowed_buckets=self.catalog.buckets, only=self._files
        )
        served = Served(version=version, predictor=Predictor(directory, self._settings), checked_at=now)
        self._served[artifact_id] = served
        prune(self.catalog.cache_root, keep=[s.predictor.model_dir for s in self._served.values()])
        LOG.info("serving %s as %s (version %d)", version.arn, artifact_id, version.version)
        return served

    def loaded(self) -> dict[str, dict[str, object]]:
        """What is loaded now, per `artifactId` (for `GET /ping`)."""
        return {
            artifact_id: {"modelPackageArn": s.version.arn, "version": s.version.version}
            for artifact_id, s in sorted(self._served.items())
        }
