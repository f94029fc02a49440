"""Legacy ML code on SageMaker (seed 04): the workflow, its job role and the inference image repository."""
