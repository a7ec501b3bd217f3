"""The path an upload takes: stage 1 in the request (``ingest``), the slow stage 2 on the work queue
(``stages``), and deciding past uploads again when banks learn new entries (``retro``)."""
