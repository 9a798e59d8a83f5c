"""Training and registry machinery: data module, Lightning model, metrics, export, MLflow registry and the gate.

Everything here takes a `features.spec.FeatureSpec` and never names a column of the
worked example; `assets/` wires it to the example's feature definitions.
"""
