"""Helpers of the MLOps DAGs, shipped in MWAA's dags/ folder beside the DAG files.

Plain functions (versions, SageMaker request bodies, notification texts, settings) that the unit
tests call directly, and the thin Airflow glue (`tasks`) that the DAGs run.
"""
