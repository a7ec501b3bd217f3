"""Hash-list formats the field exchanges, and (later) federation between instances."""
