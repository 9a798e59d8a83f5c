"""ParquetOffsetSink without Kafka: offset-range files, column reads, and dictionaries only where they pay."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dataplane.ingestion.kafka_sink import (
    OFFSET_COLUMN,
    PARQUET_DICTIONARY_PAGE_LIMIT,
    PARTITION_COLUMN,
    ParquetOffsetSink,
)


def _batch(partition: int, first: int, rows: int) -> pa.Table:
    offsets = list(range(first, first + rows))
    return pa.table(
        {
            "event_id": [f"evt-{partition}-{offset:012d}" for offset in offsets],
            "country": [("DE", "FR", "NL")[offset % 3] for offset in offsets],
            PARTITION_COLUMN: pa.array([partition] * rows, pa.int32()),
            OFFSET_COLUMN: pa.array(offsets, pa.int64()),
        }
    )


def test_batches_are_named_by_offset_range_and_read_back_whole_or_by_column(tmp_path):
    sink = ParquetOffsetSink(tmp_path)
    sink.write(0, _batch(0, 0, 5))
    sink.write(0, _batch(0, 5, 5))
    sink.write(1, _batch(1, 0, 3))
    assert sink.ranges(0) == [(0, 4), (5, 9)] and sink.next_offset(0) == 10 and sink.next_offset(1) == 3
    assert sink.read().num_rows == 13
    subset = sink.read(columns=["country", OFFSET_COLUMN])
    assert subset.column_names == ["country", OFFSET_COLUMN] and subset.num_rows == 13
    assert ParquetOffsetSink(tmp_path / "empty").read() is None


def test_overlapping_ranges_are_an_error(tmp_path):
    sink = ParquetOffsetSink(tmp_path)
    sink.write(0, _batch(0, 0, 5))
    sink.write(0, _batch(0, 3, 5))
    with pytest.raises(RuntimeError, match="overlap"):
        sink.ranges(0)


def test_dictionaries_stay_small_for_near_unique_columns(tmp_path):
    path = ParquetOffsetSink(tmp_path).write(0, _batch(0, 0, 20_000))
    row_group = pq.ParquetFile(path).metadata.row_group(0)
    columns = {row_group.column(i).path_in_schema: row_group.column(i) for i in range(row_group.num_columns)}

    def dictionary_page_bytes(name: str) -> int:
        return columns[name].data_page_offset - columns[name].dictionary_page_offset

    # With Arrow's 1 MiB default the ids' dictionary page held all 20k ids (~95 KB compressed here); with the limit
    # the writer gives up on it early and writes plain pages.
    assert dictionary_page_bytes("event_id") <= PARQUET_DICTIONARY_PAGE_LIMIT, dictionary_page_bytes("event_id")
    assert dictionary_page_bytes("country") < 100 and columns["country"].total_compressed_size < 1_000
    assert pq.read_table(path).equals(_batch(0, 0, 20_000))
