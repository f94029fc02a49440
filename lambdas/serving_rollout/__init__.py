"""Rolls the always-on image classifier service when a version of its model package group is approved or rejected."""
