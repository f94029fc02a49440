"""Seed-code check-in Lambda: the custom resource creating and seeding the two GitLab projects."""
