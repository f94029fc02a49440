"""The Airflow (MWAA) variant, offline: `make airflow-demo` and the tests of the DAGs, the DAG trigger
Lambda and the two seed repositories' pipelines.

What runs for real: the DAGs in Airflow 3.3.1 with the Amazon provider (`dag.test()` in the pinned
Airflow virtualenv) against the AWS emulator (moto); the trigger Lambda's code behind a local
stand-in of the Lambda Invoke API, calling a local stand-in of MWAA's InvokeRestApi; both
`.gitlab-ci.yml` files under gitlab-ci-local; the model image's training and evaluation code for
the SageMaker jobs the emulator accepts (`sagemaker_jobs`); Slack replaced by a local HTTP server.
"""
