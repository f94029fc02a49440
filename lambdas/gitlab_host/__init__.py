"""Shared by both GitLab Lambdas: the ``RepositoryHost`` contract, its GitLab implementation, the
token loader and the configured connections every token is bound to. Modules log to the
``gitlab_host`` logger (standard ``logging``); each Lambda attaches its Powertools handler to it."""

from .base import CiVariable, PipelineRef, ProjectId, ProjectRef, RepositoryHost, RepositoryHostError
from .connections import ConnectionNotAllowedError, GitLabConnection, connections_from_env, resolve_connection
from .credentials import TOKEN_JSON_KEY, TokenSecretError, load_token
from .gitlab_client import GitLabHost

__all__ = [
    "TOKEN_JSON_KEY",
    "CiVariable",
    "ConnectionNotAllowedError",
    "GitLabConnection",
    "GitLabHost",
    "PipelineRef",
    "ProjectId",
    "ProjectRef",
    "RepositoryHost",
    "RepositoryHostError",
    "TokenSecretError",
    "connections_from_env",
    "load_token",
    "resolve_connection",
]
