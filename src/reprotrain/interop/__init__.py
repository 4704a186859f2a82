"""The run in other tools' formats: a Workflow Run RO-Crate, MLflow runs."""
