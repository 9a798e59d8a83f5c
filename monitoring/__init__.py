"""Model monitoring: drift, labeled quality, retraining decisions, pipeline metrics, rules and dashboards."""
