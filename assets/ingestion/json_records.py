"""JSON messages <-> Arrow rows typed by an Arrow schema; a malformed message becomes a row with a reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pyarrow as pa

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
