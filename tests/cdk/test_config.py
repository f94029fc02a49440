"""Configuration is validated once, and every error names the key that is wrong."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from stacks.config import ConfigError, is_gpu_instance, load_config, parse_config

DEFAULT = yaml.safe_load((Path(__file__).resolve().parents[2] / "config" / "default.yaml").read_text())


def with_change(path: str, value: object) -> dict:
    """The default config with one dotted key set (or deleted when value is ...)."""
    data = copy.deepcopy(DEFAULT)
    *parents, leaf = path.split(".")
    node = data
    for key in parents:
        node = node[key]
    if value is ...:
        del node[leaf]
    else:
        node[leaf] = value
    return data


def test_default_config_is_valid() -> None:
    config = parse_config(DEFAULT)
    assert config.gitlab.host == "gitlab.example.com"
    assert config.product_asset_bucket_name == "mlops-gitlab-product-assets-111111111111-eu-west-1"


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("gitlab.server_url", "gitlab.local", "gitlab.server_url: must be an https:// URL (got 'gitlab.local')"),
        ("gitlab.group_id", "ml-team", "gitlab.group_id: must be a numeric GitLab group ID or empty (got 'ml-team')"),
        ("gitlab.token_secret_name", ..., "gitlab.token_secret_name: Field required"),
        ("account", "12345", "account: String should match pattern"),
        ("region", "Europe", "region: String should match pattern"),
        (
            "instance_types.staging_endpoint",
            "m5.large",
            "instance_types.staging_endpoint: must be a SageMaker instance type",
        ),
        ("gitlab.sever_url", "https://x", "gitlab.sever_url: unknown key"),
        (
            "studio_role_arns",
            ["arn:aws:iam::222222222222:role/x"],
            "studio_role_arns must belong to account 111111111111",
        ),
    ],
)
def test_invalid_values_are_reported_with_their_key(path: str, value: object, expected: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(with_change(path, value), source="config/test.yaml")
    assert "config/test.yaml: " in str(error.value)
    assert expected in str(error.value)


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="configuration file not found"):
        load_config(tmp_path / "absent.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("gitlab: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(broken)
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="expected a mapping at the top level, got list"):
        load_config(listing)


@pytest.mark.parametrize(
    ("instance_type", "gpu"),
    [
        ("ml.g4dn.xlarge", True),
        ("ml.g5.xlarge", True),
        ("ml.p3.2xlarge", True),
        ("ml.m5.large", False),
        ("ml.c5.xlarge", False),
    ],
)
def test_gpu_instance_families(instance_type: str, gpu: bool) -> None:
    assert is_gpu_instance(instance_type) is gpu


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("airflow.environment_class", "mw1.huge", "airflow.environment_class: must be one of mw1.micro"),
        ("airflow.min_workers", 5, "airflow: min_workers 5 exceeds max_workers 2"),
        ("airflow.notification_emails", ["not-an-email"], "airflow.notification_emails.0: String should match"),
        ("airflow.projects", [], "airflow.projects: List should have at least 1 item"),
    ],
)
def test_invalid_airflow_values_name_their_key(path: str, value: object, expected: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(with_change(path, value), source="config/test.yaml")
    assert expected in str(error.value)


def test_airflow_model_errors_name_the_model_key() -> None:
    data = copy.deepcopy(DEFAULT)
    model = data["airflow"]["projects"][0]["models"][0]
    model.update(min_capacity=3, max_capacity=2)
    with pytest.raises(ConfigError, match=r"airflow.projects.0.models.0: min_capacity 3 exceeds max_capacity 2"):
        parse_config(data, source="config/test.yaml")
    data["airflow"]["projects"][0]["models"] = [{"name": "xgboost"}, {"name": "xgboost"}]
    with pytest.raises(ConfigError, match=r"duplicate model names: \['xgboost'\]"):
        parse_config(data, source="config/test.yaml")


def test_the_airflow_section_is_optional() -> None:
    data = copy.deepcopy(DEFAULT)
    del data["airflow"]
    assert parse_config(data).airflow is None
