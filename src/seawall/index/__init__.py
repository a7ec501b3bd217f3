"""In-memory match indexes: exact digests and PDQ Hamming-radius search."""
