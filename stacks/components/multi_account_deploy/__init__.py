"""The deploy source of the "Multi Account Deployment" pipeline (`deploy.py`, shipped as an S3 asset)."""
