"""Integration tests of training and the registry against a real MLflow server and real training processes."""
