"""The worked example's domain: card-payment fraud scoring with late chargeback labels.

Everything domain-specific lives here and only here: the event schemas, the
feature definitions (one definition for batch and online), and the synthetic
data generator. To run Flywheel on your own data, replace this package; the
machinery in assets/, training/, serving/ and monitoring/ receives a
`FeatureSpec` and never names a fraud feature itself.

Imports: the standard library, numpy, pandas, pyarrow, pandera and pyspark only.
Nothing in Flywheel is imported from here (it is a leaf).
"""
