"""Reusable constructs, one component per module; stacks compose them and wire grants."""
