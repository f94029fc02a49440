"""DAG trigger Lambda: starts a DAG run on the Amazon MWAA environment through MWAA's InvokeRestApi."""
