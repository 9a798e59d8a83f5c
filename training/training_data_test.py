"""The training set is checked against the FeatureSpec before training, split by time and encoded by the contract."""

import numpy as np
import pandas as pd
import pytest

from features.spec import encode_categorical
from training.config import SplitConfig
from training.synthetic import synthetic_frame, synthetic_spec
from training.training_data import (
    TrainingDataError,
    check_training_frame,
    encode_categories,
    encode_frame,
    normalisation_stats,
    read_training_set,
    split_by_time,
)

SPEC = synthetic_spec()


def _frame(rows=400):
    return synthetic_frame(SPEC, rows=rows, positive_rate=0.2)


def test_a_good_frame_passes_and_reads_back_from_a_directory_of_parts(tmp_path):
    frame = _frame()
    (tmp_path / "set").mkdir()
    frame.iloc[:200].to_parquet(tmp_path / "set" / "part-0.parquet")
    frame.iloc[200:].to_parquet(tmp_path / "set" / "part-1.parquet")
    assert len(read_training_set(tmp_path / "set", SPEC)) == len(frame)


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (lambda f: f.iloc[:0], "is empty"),
        (lambda f: f.assign(is_positive=0), "single class"),
        (lambda f: f.drop(columns=["x1"]), r"missing column\(s\) \['x1'\]"),
        (lambda f: f.assign(x0="7"), "numeric feature 'x0' has dtype"),
        (lambda f: f.assign(x2=np.where(np.arange(len(f)) < 3, np.nan, 1.0)), "'x2' has 3 missing values"),
        (lambda f: f.assign(c0=1), "categorical feature 'c0'"),
        (lambda f: f.assign(is_positive=2), "must be 0 or 1"),
        (lambda f: f.assign(event_time="yesterday"), "timestamp column 'event_time'"),
    ],
)
def test_bad_training_sets_fail_naming_the_problem(breakage, message):
    with pytest.raises(TrainingDataError, match=message):
        check_training_frame(breakage(_frame()), SPEC)


def test_missing_file_and_empty_directory_are_named(tmp_path):
    with pytest.raises(TrainingDataError, match="does not exist"):
        read_training_set(tmp_path / "nope.parquet", SPEC)
    with pytest.raises(TrainingDataError, match="without any .parquet"):
        read_training_set(tmp_path, SPEC)


def test_split_is_by_time_oldest_first():
    frame = _frame().sample(frac=1.0, random_state=1)  # shuffled on purpose
    parts = split_by_time(frame, SPEC, SplitConfig(train_fraction=0.6, validation_fraction=0.2))
    assert (len(parts.train), len(parts.validation), len(parts.test)) == (240, 80, 80)
    assert parts.train[SPEC.timestamp].max() <= parts.validation[SPEC.timestamp].min()
    assert parts.validation[SPEC.timestamp].max() <= parts.test[SPEC.timestamp].min()


def test_a_split_without_positives_is_refused():
    frame = _frame()
    frame.loc[frame[SPEC.timestamp] >= frame[SPEC.timestamp].quantile(0.75), SPEC.label] = 0
    with pytest.raises(TrainingDataError, match="the test split .* has 0 positives"):
        split_by_time(frame, SPEC, SplitConfig(train_fraction=0.6, validation_fraction=0.2))


def test_vectorised_encoding_matches_the_domain_encoder():
    vocab = ("red", "green", "blue")
    values = pd.Series(["blue", "red", "purple", None, "green"], dtype=object)
    assert encode_categories(vocab, values).tolist() == encode_categorical(vocab, values.tolist()) == [3, 1, 0, 0, 2]


def test_encoding_follows_the_contract_layout_and_normalisation_uses_only_train_rows():
    frame = _frame()
    encoded = encode_frame(frame, SPEC)
    assert encoded.numeric.dtype == np.float32 and encoded.numeric.shape == (len(frame), len(SPEC.numeric))
    assert encoded.categorical.dtype == np.int64 and encoded.categorical.shape == (len(frame), len(SPEC.categorical))
    train = encode_frame(frame.iloc[:100], SPEC)
    mean, std = normalisation_stats(train)
    np.testing.assert_allclose(mean, frame[list(SPEC.numeric)].iloc[:100].mean().to_numpy(), rtol=1e-5)
    assert std.dtype == np.float32 and (std > 0).all()
