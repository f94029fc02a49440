"""Redshift ML remote inference: the SQL that scores a deployed endpoint from Amazon Redshift.

    python redshift_sql.py --stage prod --build-dir build [--role-arn ARN] [--schema public] [--function NAME]

Writes `build/redshift-ml-<stage>.sql`: `CREATE MODEL ... FUNCTION <name>(float8, ...) RETURNS float8
SAGEMAKER '<endpoint>' IAM_ROLE '<role>'`, and an example query calling the function. The function's
arguments are the model's features in the order the model build wrote them (`features.json` of the
build that produced the approved version, next to its evaluation: `<execution prefix>/data/features/`),
the same order the endpoint reads its CSV columns in. Redshift sends each batch of rows as `text/csv`
without a header, one row per line, the function's arguments in order (NULL as an empty field, which
the model server reads as a missing value), and reads back one value per line.

The features are the model's inputs after the build's preprocessing (standardized numbers, one-hot
columns such as `sex_M`): the query must pass those values. A multiclass model answers one
probability per class, which Redshift's single-value contract cannot carry: this script refuses it.

Environment: `REDSHIFT_ML_ROLE_ARN` (default of `--role-arn`; the platform sets it when `redshift_ml`
is configured), `AWS_REGION`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

STAGES = ("staging", "prod")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")
_ENDPOINT = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
# Unquoted Redshift identifiers: a letter or underscore first, then letters, digits, underscores, dollar signs.
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_$]{0,126}$")
SINGLE_VALUE_PROBLEMS = ("regression", "binary_classification")


class SqlError(Exception):
    """Why no SQL can be written; the message names the value at fault."""


def function_name(label: str) -> str:
    """`predict_<label>` as a Redshift identifier (lower case, other characters become `_`)."""
    name = "predict_" + re.sub(r"[^a-z0-9_]", "_", label.lower())
    return name[:127]


def _identifier(kind: str, value: str) -> str:
    if not _IDENTIFIER.match(value):
        raise SqlError(f"{kind} {value!r} is not a Redshift identifier (lower case letters, digits, _ and $)")
    return value


def _quoted(name: str) -> str:
    """A column name as a delimited Redshift identifier."""
    return '"' + name.replace('"', '""') + '"'


def _comment(text: str) -> str:
    """`text` safe inside a `--` comment: one line of printable characters."""
    return "".join(character if character.isprintable() else "?" for character in text)


def create_model_sql(
    *,
    description: dict[str, Any],
    endpoint: str,
    role_arn: str,
    schema: str = "public",
    function: str | None = None,
    table: str = "features",
) -> str:
    """The CREATE MODEL statement for `endpoint` and an example query, from the model's feature description."""
    names = description.get("feature_names")
    if not isinstance(names, list) or not names or not all(isinstance(name, str) and name for name in names):
        raise SqlError("the feature description has no feature_names list")
    unprintable = [name for name in names if not name.isprintable()]
    if unprintable:
        raise SqlError(f"feature names {unprintable!r} hold control characters")
    problem_type = description.get("problem_type", "regression")
    if problem_type not in SINGLE_VALUE_PROBLEMS:
        raise SqlError(
            f"a {problem_type} model answers one probability per class; Redshift remote inference reads one "
            f"value per row (models of {', '.join(SINGLE_VALUE_PROBLEMS)} only)"
        )
    if not _ENDPOINT.match(endpoint):
        raise SqlError(f"endpoint name {endpoint!r} is not a SageMaker endpoint name")
    if not _ROLE_ARN.match(role_arn):
        raise SqlError(f"role {role_arn!r} is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)")
    schema = _identifier("schema", schema)
    function = _identifier("function", function or function_name(str(description.get("label", "value"))))
    model = _identifier("model", f"{function}_{endpoint.replace('-', '_').lower()}"[:127])
    label = str(description.get("label", "the label"))
    returns = "the probability of the positive class" if problem_type == "binary_classification" else label
    columns = ",\n       ".join(_quoted(name) for name in names)
    return (
        f"-- Redshift ML remote inference on the SageMaker endpoint {endpoint}: {problem_type.replace('_', ' ')},\n"
        f"-- returns {_comment(returns)}. Arguments: the model's {len(names)} features, in this order.\n"
        f"CREATE MODEL {schema}.{model}\n"
        f"FUNCTION {schema}.{function}(\n{_argument_list(names)}\n)\n"
        f"RETURNS float8\n"
        f"SAGEMAKER '{endpoint}'\n"
        f"IAM_ROLE '{role_arn}';\n\n"
        f"SHOW MODEL {schema}.{model};\n\n"
        f"-- Example: score a table (or view) whose columns hold the model's features.\n"
        f"SELECT {schema}.{function}({columns}) AS {_identifier('column', 'prediction')}\n"
        f"FROM {schema}.{_identifier('table', table)};\n"
    )


def _argument_list(names: list[str]) -> str:
    """One `float8` per feature, each with a comment naming it (commas before the comments)."""
    last = len(names)
    return "\n".join(
        f"  float8{',' if index < last else ''}  -- {index}: {_comment(name)}" for index, name in enumerate(names, 1)
    )


def features_uri(evaluation_uri: str) -> str:
    """`<execution prefix>/data/features/features.json` for `<execution prefix>/evaluation/evaluation.json`."""
    marker = "/evaluation/"
    if not evaluation_uri.startswith("s3://") or marker not in evaluation_uri:
        raise SqlError(f"evaluation URI {evaluation_uri!r} is not s3://<prefix>/evaluation/evaluation.json")
    return evaluation_uri.rsplit(marker, 1)[0] + "/data/features/features.json"


def read_description(s3: Any, uri: str) -> dict[str, Any]:
    """The model build's `features.json`."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    try:
        document = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except (ClientError, BotoCoreError) as error:
        raise SqlError(f"cannot read {uri}: {error}") from None
    except json.JSONDecodeError as error:
        raise SqlError(f"{uri} is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise SqlError(f"{uri} must hold a JSON object")
    return document


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python redshift_sql.py", description=__doc__.splitlines()[0])
    parser.add_argument("--stage", choices=STAGES, default="prod")
    parser.add_argument("--build-dir", type=Path, default=Path("build"))
    parser.add_argument("--role-arn", default=os.environ.get("REDSHIFT_ML_ROLE_ARN", ""))
    parser.add_argument("--schema", default="public")
    parser.add_argument("--function", help="default: predict_<label>")
    parser.add_argument("--table", default="features", help="table of the example query")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Write `<build dir>/redshift-ml-<stage>.sql`; 1 with the reason when it cannot."""
    args = parse_args(argv)
    try:
        package = json.loads((args.build_dir / "model-package.json").read_text())
        outputs = json.loads((args.build_dir / f"{args.stage}-outputs.json").read_text())
        uri = features_uri(str(package["EvaluationUri"]))
        s3 = boto3.client("s3", region_name=os.environ.get("AWS_REGION") or None)
        sql = create_model_sql(
            description=read_description(s3, uri),
            endpoint=str(outputs["EndpointName"]),
            role_arn=args.role_arn,
            schema=args.schema,
            function=args.function,
            table=args.table,
        )
    except (OSError, json.JSONDecodeError, KeyError, SqlError) as error:
        print(f"redshift_sql: {error}", file=sys.stderr)
        return 1
    path = args.build_dir / f"redshift-ml-{args.stage}.sql"
    path.write_text(sql)
    print(f"redshift_sql: wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
