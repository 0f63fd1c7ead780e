"""Airflow tests get their own AIRFLOW_HOME so they never touch a real installation."""

import os
import tempfile

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="popheath-airflow-"))
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
