"""Apache Kafka in KRaft mode (one broker that is its own controller) on 127.0.0.1."""

from __future__ import annotations

import base64
import os
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from tools.services.process import ManagedProcess, ServiceError, ensure_port_free, free_port, port_open, require_binary

_LOG4J2 = """\
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
"""


def find_jars() -> Path:
    """The broker's jars: $FLYWHEEL_KAFKA_JARS, Bazel runfiles, or fetched into the cache by Maven."""
    explicit = os.environ.get("FLYWHEEL_KAFKA_JARS")
    if explicit:
        return Path(explicit)
    for root in (os.environ.get("TEST_SRCDIR"), os.environ.get("RUNFILES_DIR")):
        if root and (Path(root) / "kafka_jars" / "lib").is_dir():
            return Path(root) / "kafka_jars" / "lib"
    from tools.services.kafka_jars.fetch_jars import ensure_jars  # Maven, only outside Bazel

    return ensure_jars()


def server_properties(data_dir: Path, port: int, controller_port: int) -> str:
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{controller_port}",
            f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name=PLAINTEXT",
            f"log.dirs={data_dir}",
            "num.partitions=1",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=4",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=true",
            "",
        ]
    )


@dataclass
class KafkaService:
    """A single-node KRaft broker; `bootstrap_servers` is what clients connect to."""

    workdir: Path
    port: int = 0
    controller_port: int = 0
    heap: str = "512m"
    detach: bool = False
    ready_timeout: float = 90.0

    name = "kafka"

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir)
        self.port = self.port or free_port()
        self.controller_port = self.controller_port or free_port()
        self.process: ManagedProcess | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def urls(self) -> dict[str, str]:
        return {"bootstrap_servers": self.bootstrap_servers}

    def _java(self, jars: Path, main: str, *args: str, extra: tuple[str, ...] = ()) -> list[str]:
        java = require_binary("java", "apt-get install -y openjdk-17-jre-headless")
        return [
            java,
            f"-Xmx{self.heap}",
            "-XX:+UseSerialGC",
            *extra,
            f"-Dlog4j2.configurationFile={self.workdir / 'log4j2.properties'}",
            "-cp",
            f"{jars}/*",
            main,
            *args,
        ]

    def start(self) -> KafkaService:
        ensure_port_free(self.port, "Kafka")
        ensure_port_free(self.controller_port, "Kafka controller")
        jars = find_jars()
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "server.properties"
        config.write_text(server_properties(self.workdir / "data", self.port, self.controller_port))
        (self.workdir / "log4j2.properties").write_text(_LOG4J2)
        if not (self.workdir / "data" / "meta.properties").exists():
            cluster_id = "-"
            while cluster_id.startswith("-"):  # the storage tool reads a leading '-' as an option
                cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
            fmt = subprocess.run(
                self._java(jars, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(config)),
                capture_output=True,
                text=True,
                check=False,
            )
            if fmt.returncode != 0:
                raise ServiceError(f"formatting Kafka storage failed:\n{fmt.stdout}{fmt.stderr}")
        self.process = ManagedProcess(
            self.name,
            self._java(jars, "kafka.Kafka", str(config)),
            self.workdir / "kafka.log",
            detach=self.detach,
        ).start()
        self.process.wait_ready(self.ready, self.ready_timeout)
        return self

    def ready(self) -> bool:
        """True once the broker answers a metadata request (not just an open port)."""
        if not port_open(self.port):
            return False
        from kafka import KafkaAdminClient

        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap_servers, request_timeout_ms=3000)
        try:
            admin.list_topics()
            return True
        finally:
            admin.close()

    def stop(self) -> None:
        if self.process:
            self.process.stop()
