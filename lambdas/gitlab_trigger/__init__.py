"""GitLab trigger Lambda: starts the model deploy pipeline when a model version is approved."""
