#!/usr/bin/env python3
"""CDK entry point: `npx cdk synth|deploy [-c config=config/<env>.yaml]`."""

import aws_cdk as cdk

from stacks.app_builder import DEFAULT_CONFIG, build_app
from stacks.config import load_config

config_path = cdk.App().node.try_get_context("config") or DEFAULT_CONFIG
build_app(load_config(config_path)).synth()
