"""Report stage: the figure registry (catalog), the figures, and the published HTML page."""
