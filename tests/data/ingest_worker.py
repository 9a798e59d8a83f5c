"""A consumer process for crash tests: ingests a topic and SIGKILLs itself after its Nth durable write."""

import argparse
import json
import os
import signal
from pathlib import Path

from dataplane.ingestion.kafka_sink import IngestSettings, ParquetOffsetSink, ingest
from domain.schema import TRANSACTION_ARROW_SCHEMA


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--sink", required=True)
    parser.add_argument("--batch-rows", type=int, default=100)
    parser.add_argument("--kill-after-writes", type=int, default=0, help="0: never")
    args = parser.parse_args()
    writes = 0

    def after_write(path: Path) -> None:
        nonlocal writes
        writes += 1
        if writes == args.kill_after_writes:
            print(json.dumps({"killed_after": str(path)}), flush=True)
            os.kill(os.getpid(), signal.SIGKILL)  # between the durable write and the offset commit

    report = ingest(
        args.bootstrap,
        IngestSettings(args.topic, group_id="crash-test", batch_rows=args.batch_rows),
        ParquetOffsetSink(Path(args.sink)),
        TRANSACTION_ARROW_SCHEMA,
        after_write=after_write,
        consumer_options={"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000},
    )
    print(json.dumps({"rows": report.rows, "malformed": report.malformed}), flush=True)


if __name__ == "__main__":
    main()
