"""JSON messages <-> Arrow rows typed by an Arrow schema; a malformed message becomes a row with a reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

ERROR_COLUMN = "_error"
RAW_COLUMN = "_raw"


def encode_rows(table: pa.Table) -> list[bytes]:
    """Each row as a compact JSON object; timestamps as ISO 8601 with offset."""
    rows = table.to_pylist()
    for row in rows:
        for key, value in row.items():
            if isinstance(value, datetime):
                row[key] = value.isoformat()
    return [json.dumps(row, separators=(",", ":")).encode() for row in rows]


def _coerce(name: str, kind: pa.DataType, value):
    """The value as the schema's type, or raises ValueError naming the field and what was wrong."""
    if value is None:
        return None
    if pa.types.is_string(kind):
        if not isinstance(value, str):
            raise ValueError(f"field '{name}': expected string, got {type(value).__name__}")
        return value
    if pa.types.is_floating(kind):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"field '{name}': expected number, got {type(value).__name__}")
        return float(value)
    if pa.types.is_integer(kind):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"field '{name}': expected integer, got {type(value).__name__}")
        bits = kind.bit_width
        low, high = (
            (0, 2**bits - 1) if pa.types.is_unsigned_integer(kind) else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
        )
        if not low <= value <= high:
            raise ValueError(f"field '{name}': {value} is out of range for {kind}")
        return value
    if pa.types.is_timestamp(kind):
        if not isinstance(value, str):
            raise ValueError(f"field '{name}': expected ISO 8601 timestamp string, got {type(value).__name__}")
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"field '{name}': {value[:40]!r} is not an ISO 8601 timestamp") from None
        if parsed.tzinfo is None:
            raise ValueError(f"field '{name}': timestamp {value[:40]!r} has no UTC offset")
        return parsed.astimezone(UTC)
    raise TypeError(f"field '{name}': unsupported schema type {kind}")


class RecordDecoder:
    """Accumulates decoded messages column by column; malformed ones keep their raw bytes and a reason."""

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema
        self.fields = [(f.name, f.type) for f in schema]
        self.columns: dict[str, list] = {name: [] for name, _ in self.fields}
        self.errors: list[str | None] = []
        self.raw: list[bytes | None] = []

    def add(self, value: bytes | None) -> bool:
        """Decodes one message; returns False (and records why) when it is malformed."""
        try:
            if value is None:
                raise ValueError("empty message (tombstone)")
            try:
                obj = json.loads(value)
            except (json.JSONDecodeError, UnicodeDecodeError) as error:
                raise ValueError(f"not JSON: {error.msg if hasattr(error, 'msg') else error}") from None
            if not isinstance(obj, dict):
                raise ValueError(f"not a JSON object: {type(obj).__name__}")
            decoded = [_coerce(name, kind, obj.get(name)) for name, kind in self.fields]
        except ValueError as error:
            for name, _ in self.fields:
                self.columns[name].append(None)
            self.errors.append(str(error))
            self.raw.append(value)
            return False
        for (name, _), item in zip(self.fields, decoded, strict=True):
            self.columns[name].append(item)
        self.errors.append(None)
        self.raw.append(None)
        return True

    def __len__(self) -> int:
        return len(self.errors)

    def table(self) -> pa.Table:
        """The decoded rows plus `_error` (null when valid) and `_raw` (bytes of malformed messages)."""
        arrays = [pa.array(self.columns[name], type=kind) for name, kind in self.fields]
        arrays += [pa.array(self.errors, type=pa.string()), pa.array(self.raw, type=pa.binary())]
        names = [name for name, _ in self.fields] + [ERROR_COLUMN, RAW_COLUMN]
        return pa.Table.from_arrays(arrays, names=names)


_OFFSET = r"(Z|[+-]\d\d:\d\d)$"


def decode_batch(values: list[bytes | None], schema: pa.Schema) -> pa.Table:
    """Decodes a batch of messages like `RecordDecoder` does, parsing all of them at once in Arrow when it can.

    The fast path (Arrow's JSON reader, timestamps checked for a UTC offset) is taken only when every message
    is exactly one valid record; anything else (a malformed message, a type mismatch, an unusual timestamp
    format) decodes the batch message by message, so the result and the error reasons are the same either way.
    """
    fast = _decode_all_valid(values, schema)
    if fast is not None:
        return fast
    decoder = RecordDecoder(schema)
    for value in values:
        decoder.add(value)
    return decoder.table()


def _decode_all_valid(values: list[bytes | None], schema: pa.Schema) -> pa.Table | None:
    """The batch as a table when every message is one well-typed JSON object, else None."""
    if not values or any(value is None or not value.strip() for value in values):
        return None  # a blank message would hide a message holding two objects from the row count
    as_text = pa.schema([pa.field(f.name, pa.string()) if pa.types.is_timestamp(f.type) else f for f in schema])
    payload = b"\n".join(values)
    try:
        parsed = pa_json.read_json(
            pa.BufferReader(payload),  # zero-copy; a Python file object would be read back under the GIL
            read_options=pa_json.ReadOptions(block_size=max(1 << 20, len(payload) + 1)),
            parse_options=pa_json.ParseOptions(
                explicit_schema=as_text, unexpected_field_behavior="ignore", newlines_in_values=False
            ),
        )
        if parsed.num_rows != len(values):
            return None
        columns = []
        for field in schema:
            column = parsed[field.name]
            if pa.types.is_timestamp(field.type):
                with_offset = pc.match_substring_regex(column, _OFFSET)
                if pc.sum(pc.invert(with_offset)).as_py():
                    return None
                column = pc.cast(column, field.type)
            columns.append(column)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    columns += [pa.nulls(len(values), pa.string()), pa.nulls(len(values), pa.binary())]
    return pa.Table.from_arrays(columns, names=[*schema.names, ERROR_COLUMN, RAW_COLUMN])
