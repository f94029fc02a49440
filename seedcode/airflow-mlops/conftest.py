"""Lets the tests import `mlops_ci` from the repository root."""
