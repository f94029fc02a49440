"""Model build pipeline: definition, local execution and the command that runs it."""
