"""Real local services for tests and the local stack: Kafka (KRaft), MLflow, Prometheus.

Each service starts for real on 127.0.0.1, waits until it answers, and stops
cleanly; `flywheel services up|down|status|logs` drives them from a shell and
`tools.services.pytest_plugin` offers them as session-scoped pytest fixtures.
Nothing here is imported by the product at run time.
"""
