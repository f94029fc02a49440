"""ML core of the platform's XGBoost image (training and serving), runnable with or without Docker."""
