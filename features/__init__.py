"""Feature machinery: the FeatureSpec contract, declarative feature kinds, Spark point-in-time and online engines."""
