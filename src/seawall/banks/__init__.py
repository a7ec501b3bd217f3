"""Banks of known material: entries and their writes (``service``), re-hashing a bank's stored
content with the current signal types (``rehash``), and entries partners push to a feed
(``contributions``)."""
