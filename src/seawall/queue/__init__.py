"""Work queues for background stages (video hashing and later ones): embedded threads or NATS JetStream."""
