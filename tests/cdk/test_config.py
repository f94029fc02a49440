"""Configuration is validated once, and every error names the key that is wrong."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from stacks.config import ConfigError, load_config, parse_config

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
            "instance_types.staging_endpoint: 'm5.large' is not a SageMaker instance type",
        ),
        (
            "instance_types.training",
            "ml.zz9.large",
            "instance_types.training: 'ml.zz9.large': unknown instance family 'zz9'",
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
