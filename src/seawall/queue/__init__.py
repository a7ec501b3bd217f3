"""Work queues for background stages (video hashing and later ones)."""
