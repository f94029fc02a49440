"""The MLOps pipeline's steps: fetch the upstream model package, version, build and push the image,
trigger the training DAG, approve a model version and trigger the deployment DAG (`python -m mlops_ci`)."""
