"""A stand-in for the domain's online feature function, used until domain/ provides the real one.

It follows the `serving.transaction_scoring.FeatureFunction` interface: raw transaction in, features by
FeatureSpec name out (here the reference spec's x0..x7 numeric and c0..c2 categorical features).
"""

from serving.synthetic_data import reference_spec

SPEC = reference_spec()


def features(transaction: dict) -> dict:
    """Numeric features from the amount and hour, categorical ones copied from the transaction."""
    amount = float(transaction["amount"])
    hour = int(transaction.get("hour", 12))
    numeric = {name: amount * (i + 1) / 10 + hour / 24 for i, name in enumerate(SPEC.numeric)}
    categorical = {name: transaction.get(name, "unknown") for name in SPEC.categorical}
    return {**numeric, **categorical}
