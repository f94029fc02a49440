"""CDK stacks of the platform; each composes components from `stacks.components`."""
