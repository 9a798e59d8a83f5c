"""JSON decoding by schema: valid rows typed, malformed ones kept with a reason."""

import pyarrow as pa
import pytest

from dataplane.ingestion.json_records import RecordDecoder, _decode_all_valid, decode_batch, encode_rows

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


def _slow(values, schema=SCHEMA):
    decoder = RecordDecoder(schema)
    for value in values:
        decoder.add(value)
    return decoder.table()


GOOD = [
    b'{"id":"a","at":"2025-01-01T00:00:00.123456+00:00","x":1.5,"n":3}',
    b'{"id":"b","at":"2025-01-01T01:00:00+01:00","x":2,"n":-4,"extra":[1]}',
    b'{"id":"c","at":"2025-01-01T00:00:00Z","x":null}',
    b'{"x":NaN}',
]


def test_a_clean_batch_is_parsed_at_once_and_equals_message_by_message():
    fast = _decode_all_valid(GOOD, SCHEMA)
    assert fast is not None and fast.num_rows == len(GOOD)
    assert str(fast.to_pylist()) == str(_slow(GOOD).to_pylist())
    assert decode_batch(GOOD, SCHEMA).schema == _slow(GOOD).schema


@pytest.mark.parametrize(
    "bad",
    [
        b"{",
        b"[]",
        b'{"id": 5}',
        b'{"x": true}',
        b'{"x": "1"}',
        b'{"n": 1.5}',
        b'{"n": 300}',
        b'{"at": "2025-01-01T00:00:00"}',
        b'{"at": "2025-01-01"}',
        b'{"at": "yesterday"}',
        b'{"id": "a", "id": "b"}',
        b'{"id": {"a": 1}}',
        b"\xff\xfe",
        None,
    ],
)
def test_any_malformed_message_falls_back_and_gives_the_same_rows_and_reasons(bad):
    batch = [*GOOD[:2], bad, GOOD[2]]
    assert _decode_all_valid(batch, SCHEMA) is None
    decoded = decode_batch(batch, SCHEMA)
    assert decoded.equals(_slow(batch))
    errors = decoded["_error"].to_pylist()
    if bad == b'{"id": "a", "id": "b"}':  # valid JSON: the last key wins, as json.loads does
        assert errors == [None] * 4 and decoded["id"][2].as_py() == "b"
    else:
        assert errors[2] and errors.count(None) == 3 and decoded["_raw"][2].as_py() == bad


def test_a_message_with_two_objects_is_not_hidden_by_a_blank_one():
    batch = [GOOD[0], b'{"id":"x"} {"id":"y"}', b"   "]
    assert _decode_all_valid(batch, SCHEMA) is None
    assert decode_batch(batch, SCHEMA)["_error"].null_count == 1
