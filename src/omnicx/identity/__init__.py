"""Identity: the identity graph, merge rules, unmerge and probabilistic matching."""
