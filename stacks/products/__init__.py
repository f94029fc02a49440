"""Service Catalog product templates (CDK ProductStacks) published to SageMaker Studio."""
