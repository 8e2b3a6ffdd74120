"""Analysis stage: the results table (collect), thresholds, the collapse test and the
scaling law (analyze)."""
