"""`python -m local_airflow`: the Airflow variant's offline demo (`make airflow-demo`)."""

from __future__ import annotations

import sys

from local_airflow.demo import main

sys.exit(main())
