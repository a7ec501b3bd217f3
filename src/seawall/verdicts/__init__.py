"""From signals to a verdict: matching signals against the banks' indexes (``matching``) and
deciding from the matches and facts (``decide``)."""
