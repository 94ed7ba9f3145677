"""Statistics over per-episode records: intervals, paired and unpaired tests, aggregates."""
