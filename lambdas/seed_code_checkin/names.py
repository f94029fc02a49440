"""``Custom::ProjectNames``: the project's names as SageMaker writes them in ARNs (lower case).

SageMaker lower-cases resource names in ARNs (``model-package-group/myproject-p-1``) but
CloudFormation has no function to lower-case a parameter, so IAM policies that name a project
``MyProject`` would never match. This resource returns the lower-cased names; the product's
policies use them, and nothing else changes: the resources keep the names SageMaker was given.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

RESOURCE_TYPE = "Custom::ProjectNames"
_PROJECT_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}$")
_PROJECT_ID = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,19}$")


class InvalidProjectNamesError(ValueError):
    """The project name or ID is not one SageMaker accepts."""


def handle_project_names(event: Mapping[str, Any]) -> dict[str, Any]:
    """Create/Update: return the lower-cased names; Delete: nothing to remove."""
    if event.get("RequestType") == "Delete":
        return {"PhysicalResourceId": event.get("PhysicalResourceId", "")}
    properties = event.get("ResourceProperties") or {}
    name = str(properties.get("SageMakerProjectName", ""))
    project_id = str(properties.get("SageMakerProjectId", ""))
    if not _PROJECT_NAME.match(name):
        raise InvalidProjectNamesError(f"SageMakerProjectName {name!r} is not a SageMaker project name")
    if not _PROJECT_ID.match(project_id):
        raise InvalidProjectNamesError(f"SageMakerProjectId {project_id!r} is not a SageMaker project ID")
    prefix = f"{name}-{project_id}".lower()
    return {"PhysicalResourceId": prefix, "Data": {"NameLower": name.lower(), "PrefixLower": prefix}}
