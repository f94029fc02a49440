"""Shared by both GitLab Lambdas: the ``RepositoryHost`` contract, its GitLab implementation and
the token loader. Modules log to the ``gitlab_host`` logger (standard ``logging``); each Lambda
attaches its Powertools handler to it."""

from .base import CiVariable, PipelineRef, ProjectId, ProjectRef, RepositoryHost, RepositoryHostError
from .credentials import TOKEN_JSON_KEY, TokenSecretError, load_token
from .gitlab_client import GitLabHost

__all__ = [
    "TOKEN_JSON_KEY",
    "CiVariable",
    "GitLabHost",
    "PipelineRef",
    "ProjectId",
    "ProjectRef",
    "RepositoryHost",
    "RepositoryHostError",
    "TokenSecretError",
    "load_token",
]
