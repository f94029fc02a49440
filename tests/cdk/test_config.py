"""Configuration is validated once, and every error names the key that is wrong."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from stacks.config import ConfigError, load_config, parse_config

DEFAULT = yaml.safe_load((Path(__file__).resolve().parents[2] / "config" / "default.yaml").read_text())


def with_change(path: str, value: object) -> dict:
    """The default config with one dotted key set (or deleted when value is ...); digits index lists."""
    data = copy.deepcopy(DEFAULT)
    *parents, leaf = path.split(".")
    node = data
    for key in parents:
        node = node[int(key)] if key.isdigit() else node[key]
    if value is ...:
        del node[leaf]
    else:
        node[leaf] = value
    return data


SECRET = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:mlops/gitlab-token-AbCdEf"


def test_default_config_is_valid() -> None:
    config = parse_config(DEFAULT)
    assert config.gitlab.host == "gitlab.example.com"
    (connection,) = config.gitlab.connections
    assert (connection.name, connection.token_secret_arn, connection.namespace) == ("ml-team", SECRET, "ml-team")
    assert connection.secret_name == "mlops/gitlab-token"
    assert config.product_asset_bucket_name == "mlops-gitlab-product-assets-111111111111-eu-west-1"


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (
            "gitlab.connections.0.server_url",
            "gitlab.local",
            "gitlab.connections.0.server_url: must be an https:// URL (got 'gitlab.local')",
        ),
        (
            "gitlab.connections.0.group_id",
            "ml-team",
            "gitlab.connections.0.group_id: must be a numeric GitLab group ID or empty (got 'ml-team')",
        ),
        ("gitlab.connections.0.token_secret_arn", ..., "gitlab.connections.0.token_secret_arn: Field required"),
        (
            "gitlab.connections.0.token_secret_arn",
            "mlops/gitlab-token",
            "gitlab.connections.0.token_secret_arn: must be the full ARN of a Secrets Manager secret",
        ),
        (
            "gitlab.connections.0.token_secret_arn",
            SECRET.replace("111111111111", "999999999999"),
            "gitlab.connections.0.token_secret_arn must be a secret of account 111111111111 in eu-west-1",
        ),
        ("gitlab.connections.0.namespace", "team name", "gitlab.connections.0.namespace: String should match"),
        ("gitlab.connections.0.ca_bundle", "missing.pem", "gitlab.connections.0.ca_bundle: CA bundle file not found"),
        ("gitlab.connections", [], "gitlab.connections: List should have at least 1 item"),
        ("account", "12345", "account: String should match pattern"),
        ("region", "Europe", "region: String should match pattern"),
        (
            "instance_types.staging_endpoint",
            "m5.large",
            "instance_types.staging_endpoint: 'm5.large' is not a SageMaker instance type",
        ),
        (
            "instance_types.training",
            "ml.zz9.large",
            "instance_types.training: 'ml.zz9.large': unknown instance family 'zz9'",
        ),
        (
            "instance_types.training",
            "ml.trn1.2xlarge",
            "instance_types.training: ml.trn1.2xlarge is an aws-neuron instance type: the XGBoost images "
            "run on CPU or NVIDIA GPU types; Trainium trains PyTorch with the Neuron image",
        ),
        (
            "instance_types.prod_endpoint",
            "ml.inf2.xlarge",
            "instance_types.prod_endpoint: ml.inf2.xlarge is an aws-neuron instance type",
        ),
        ("redshift_ml.cluster_identifier", "Analytics--1", "redshift_ml.cluster_identifier: String should match"),
        (
            "redshift_ml.database_users",
            ["analyst", "analyst"],
            "redshift_ml.database_users: duplicate database user names: ['analyst']",
        ),
        ("redshift_ml.stages", ["test"], "redshift_ml.stages.0: Input should be 'staging' or 'prod'"),
        ("redshift_ml.stages", [], "redshift_ml.stages: List should have at least 1 item"),
        ("gitlab.sever_url", "https://x", "gitlab.sever_url: unknown key"),
        (
            "images.pytorch_gpu_uri",
            "docker.io/pytorch/pytorch:latest",
            "images.pytorch_gpu_uri: must be an Amazon ECR image URI <account>.dkr.ecr.<region>.amazonaws.com",
        ),
        ("images.xgboost_cpu_uri", 42, "images.xgboost_cpu_uri: Input should be a valid string"),
        ("images.pytorch_cuda_uri", "", "images.pytorch_cuda_uri: unknown key"),
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


def _second_connection(**changes: str) -> dict:
    data = copy.deepcopy(DEFAULT)
    data["gitlab"]["connections"].append({**data["gitlab"]["connections"][0], "name": "research", **changes})
    return data


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"name": "ml-team"}, "connection names must be unique (repeated: ml-team)"),
        ({}, "each token secret belongs to one connection"),
        (
            {"server_url": "https://gitlab.other.example", "token_secret_arn": SECRET.replace("AbCdEf", "GhIjKl")},
            "all connections must use one GitLab server",
        ),
    ],
)
def test_connections_are_distinct_and_share_one_server(changes: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(_second_connection(**changes))
    assert expected in str(error.value)


def test_a_ca_bundle_must_hold_a_certificate(tmp_path: Path) -> None:
    (tmp_path / "not-a-ca.pem").write_text("hello")
    data = with_change("gitlab.connections.0.ca_bundle", "not-a-ca.pem")
    with pytest.raises(ConfigError, match="not-a-ca.pem holds no PEM certificate"):
        parse_config(data, base_dir=tmp_path)


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


def test_redshift_ml_is_a_switch_that_defaults_to_every_user_and_production() -> None:
    assert parse_config(with_change("redshift_ml", ...)).redshift_ml is None
    config = parse_config(with_change("redshift_ml", {"cluster_identifier": "analytics"})).redshift_ml
    assert config is not None and (config.database_users, config.stages) == ([], ["prod"])
