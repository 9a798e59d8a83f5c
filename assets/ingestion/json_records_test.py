"""JSON decoding by schema: valid rows typed, malformed ones kept with a reason."""

import pyarrow as pa

from assets.ingestion.json_records import RecordDecoder, encode_rows

SCHEMA = pa.schema([("id", pa.string()), ("at", pa.timestamp("us", tz="UTC")), ("x", pa.float64()), ("n", pa.int8())])


def test_round_trip_and_malformed_reasons():
    table = pa.Table.from_pylist([{"id": "a", "at": None, "x": 1.5, "n": 3}], schema=SCHEMA)
    decoder = RecordDecoder(SCHEMA)
    assert decoder.add(encode_rows(table)[0])
    for raw in (
        b"{",
        b"[]",
        b'{"x": "1"}',
        b'{"n": true}',
        b'{"at": "yesterday"}',
        b'{"at": "2025-01-01T00:00:00"}',
        None,
    ):
        assert not decoder.add(raw)
    out = decoder.table()
    assert out.slice(0, 1).select(["id", "x", "n"]).to_pylist() == [{"id": "a", "x": 1.5, "n": 3}]
    errors = out["_error"].to_pylist()
    assert errors[0] is None
    assert [e.split(":")[0] for e in errors[1:]] == [
        "not JSON",
        "not a JSON object",
        "field 'x'",
        "field 'n'",
        "field 'at'",
        "field 'at'",
        "empty message (tombstone)",
    ]
    assert out["_raw"].to_pylist()[2] == b"[]"
