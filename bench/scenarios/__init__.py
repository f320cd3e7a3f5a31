"""One module per measurement; each takes the run's Context and returns (and writes) its JSON."""
