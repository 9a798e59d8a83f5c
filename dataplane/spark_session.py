"""One local SparkSession per process, sized for a small shared machine (2 cores, a few GB)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from pyspark.sql import SparkSession


@dataclass(frozen=True)
class SparkSettings:
    """Local Spark knobs."""

    master: str = "local[2]"
    """Spark master URL; local[N] runs N worker threads in this process's JVM."""
    shuffle_partitions: int = 4
    """spark.sql.shuffle.partitions: small, since data is small and cores are few."""
    driver_memory: str = "2g"
    """JVM heap of the driver (where local mode runs everything)."""
    app_name: str = "flywheel"
    """Name shown in the Spark UI and logs."""


def local_spark(settings: SparkSettings = SparkSettings()) -> SparkSession:
    """The process's SparkSession (created on first call, reused after), bound to 127.0.0.1, UTC session time."""
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    return (
        SparkSession.builder.master(settings.master)
        .appName(settings.app_name)
        .config("spark.driver.memory", settings.driver_memory)
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", str(settings.shuffle_partitions))
        .config("spark.default.parallelism", str(settings.shuffle_partitions))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        .getOrCreate()
    )
