"""The unified customer profile: traits with provenance, computed traits, consent, timeline,
privacy (export and erasure)."""
