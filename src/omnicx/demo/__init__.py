"""The demo retailer: simulated customers whose events enter through the real collection paths."""
