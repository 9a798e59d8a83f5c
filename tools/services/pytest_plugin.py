"""Session-scoped pytest fixtures that start the real local services and stop them after.

Load with `py_pytest(..., plugins = ["tools.services.pytest_plugin"])`.
"""

from __future__ import annotations

import pytest

from tools.services.kafka_broker import KafkaService
from tools.services.mlflow_server import MlflowService
from tools.services.prometheus import PrometheusService


@pytest.fixture(scope="session")
def kafka_service(tmp_path_factory):
    """A KRaft Kafka broker on 127.0.0.1; use `.bootstrap_servers`."""
    service = KafkaService(tmp_path_factory.mktemp("kafka")).start()
    yield service
    service.stop()


@pytest.fixture(scope="session")
def mlflow_service(tmp_path_factory):
    """An MLflow tracking server with a SQLite store; use `.tracking_uri`."""
    service = MlflowService(tmp_path_factory.mktemp("mlflow")).start()
    yield service
    service.stop()


@pytest.fixture(scope="session")
def prometheus_service(tmp_path_factory):
    """A Prometheus server scraping every second; add targets with `.reload({...})`."""
    service = PrometheusService(tmp_path_factory.mktemp("prometheus"), targets={}).start()
    yield service
    service.stop()


@pytest.fixture(scope="session")
def spark():
    """A local SparkSession (2 threads, 4 shuffle partitions, 127.0.0.1), one per test process."""
    from dataplane.spark_session import local_spark

    session = local_spark()
    yield session
    session.stop()
