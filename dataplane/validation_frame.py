"""The pandas frame pandera validates: Arrow-backed text columns, so conversion and checks are vectorised."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

VALIDATION_STRING = pd.StringDtype("pyarrow")
"""pandas dtype of text columns in frames the pandera schema checks: Arrow-backed, so converting from Arrow is
nearly free and type, membership and uniqueness checks are vectorised (object strings cost ~5x more to validate)."""


def validation_frame(table: pa.Table) -> pd.DataFrame:
    """An Arrow table as the pandas frame a pandera schema validates (text columns as VALIDATION_STRING)."""
    return table.to_pandas(types_mapper={pa.string(): VALIDATION_STRING, pa.large_string(): VALIDATION_STRING}.get)
