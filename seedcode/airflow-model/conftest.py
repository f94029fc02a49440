"""Lets the tests import the repository's scripts (package.py) as modules."""
