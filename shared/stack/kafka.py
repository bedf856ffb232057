"""Apache Kafka in KRaft combined mode, from the Maven Central jars, on the machine's Java."""

from __future__ import annotations

import base64
import logging
import shutil
import subprocess
import uuid
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from shared.stack.errors import StackError
from shared.stack.processes import ManagedProcess, install_lock, tail
from shared.stack.settings import StackSettings

# log4j2 and SLF4J 2 are not dependencies of the broker artifact; without them Kafka logs
# nothing at all, and a start-up failure would leave no message to show.
_LOGGING_ARTIFACTS = (
    ("org.slf4j", "slf4j-api", "2.0.17"),
    ("org.apache.logging.log4j", "log4j-slf4j2-impl", "2.24.3"),
    ("org.apache.logging.log4j", "log4j-core", "2.24.3"),
)

_LOG4J2 = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
"""


def _pom(version: str) -> str:
    deps = [("org.apache.kafka", "kafka_2.13", version), *_LOGGING_ARTIFACTS]
    xml_deps = "\n".join(
        f"    <dependency><groupId>{g}</groupId><artifactId>{a}</artifactId>"
        f"<version>{v}</version></dependency>"
        for g, a, v in deps
    )
    return f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>customer-signals.local</groupId>
  <artifactId>kafka-broker-libs</artifactId>
  <version>1</version>
  <dependencies>
{xml_deps}
  </dependencies>
</project>
"""


class KafkaBroker:
    """One local broker: install, format, start, check readiness, create topics."""

    def __init__(self, settings: StackSettings) -> None:
        self.settings = settings
        self.home = settings.cache_dir / f"kafka-{settings.kafka_version}"
        self.libs = self.home / "libs"
        self.data_dir = settings.state_dir / "kafka" / "data"
        self.process = ManagedProcess("kafka", settings.state_dir / "run", marker="kafka.Kafka")

    # -- install ---------------------------------------------------------------------------
    def installed(self) -> bool:
        return (self.home / ".complete").exists()

    def install(self) -> None:
        """Fetch the broker and its runtime dependencies with Maven (cached)."""
        if self.installed():
            return
        with install_lock(self.settings.cache_dir, "kafka"):
            if not self.installed():  # another process may have fetched it meanwhile
                self._fetch()

    def _fetch(self) -> None:
        mvn = shutil.which("mvn")
        if mvn is None:
            raise StackError(
                "Maven (mvn) not found, needed once to fetch the Kafka jars",
                "install it: apt-get install -y maven",
            )
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "pom.xml").write_text(_pom(self.settings.kafka_version))
        staging = self.home / "libs.partial"
        shutil.rmtree(staging, ignore_errors=True)
        result = subprocess.run(
            [
                mvn,
                "-q",
                "-B",
                "-f",
                str(self.home / "pom.xml"),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={staging}",
                "-DincludeScope=runtime",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise StackError(
                f"fetching Kafka {self.settings.kafka_version} jars from Maven Central failed",
                "check that Maven Central is reachable and CRM_STACK_KAFKA_VERSION is a released "
                "4.x version",
                (result.stdout + result.stderr)[-3000:],
            )
        shutil.rmtree(self.libs, ignore_errors=True)
        staging.rename(self.libs)
        (self.home / ".complete").write_text(self.settings.kafka_version)

    # -- configure -------------------------------------------------------------------------
    def _config_dir(self) -> Path:
        return self.settings.state_dir / "kafka"

    def _write_config(self) -> Path:
        s = self.settings
        config_dir = self._config_dir()
        config_dir.mkdir(parents=True, exist_ok=True)
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": f"{s.host}:{s.kafka_controller_port}",
            "listeners": (
                f"PLAINTEXT://{s.host}:{s.kafka_port},CONTROLLER://{s.host}:{s.kafka_controller_port}"
            ),
            "advertised.listeners": f"PLAINTEXT://{s.host}:{s.kafka_port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.data_dir),
            "num.partitions": str(s.topic_partitions),
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "12",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "false",
            # Compaction must run often enough on small local topics to be observable.
            "log.cleaner.backoff.ms": "5000",
        }
        path = config_dir / "server.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        (config_dir / "log4j2.properties").write_text(_LOG4J2)
        return path

    def _java(self) -> str:
        java = shutil.which("java")
        if java is None:
            raise StackError(
                "Java not found, needed to run the Kafka broker",
                "install a JDK 17+: apt-get install -y openjdk-17-jre-headless",
            )
        return java

    def _classpath(self) -> str:
        return str(self.libs / "*")

    def _format(self, java: str, config: Path) -> None:
        if (self.data_dir / "meta.properties").exists():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cluster_id = _random_cluster_id()
        result = subprocess.run(
            [
                java,
                "-cp",
                self._classpath(),
                "kafka.tools.StorageTool",
                "format",
                "--standalone",
                "-t",
                cluster_id,
                "-c",
                str(config),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise StackError(
                "formatting the Kafka storage directory failed",
                f"run `python -m shared.stack reset` to start from empty state ({self.data_dir})",
                (result.stdout + result.stderr)[-3000:],
            )

    # -- run -------------------------------------------------------------------------------
    def running(self) -> bool:
        return self.process.pid() is not None

    def start(self) -> None:
        java = self._java()
        self.install()
        config = self._write_config()
        self._format(java, config)
        s = self.settings
        argv = [
            java,
            "-Xms256m",
            f"-Xmx{s.kafka_heap}",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self._config_dir() / 'log4j2.properties'}",
            "-cp",
            self._classpath(),
            "kafka.Kafka",
            str(config),
        ]
        self.process.start(argv)

    def log_tail(self, lines: int = 20) -> str:
        return tail(self.process.log_file, lines)

    async def ready(self) -> bool:
        """True when the broker answers a metadata request."""
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self.settings.bootstrap_servers, request_timeout_ms=3000
        )
        # Refused connections are the expected answer while the broker boots; don't log them.
        client_log = logging.getLogger("aiokafka")
        previous_level = client_log.level
        client_log.setLevel(logging.CRITICAL)
        try:
            await admin.start()
            await admin.list_topics()
            return True
        except (KafkaError, OSError):
            return False
        finally:
            await admin.close()
            client_log.setLevel(previous_level)


def _random_cluster_id() -> str:
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):  # Kafka's CLI would read it as an option
            return cluster_id
