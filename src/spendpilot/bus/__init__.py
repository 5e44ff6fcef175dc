"""Event transport between run executors and sockets: in-process (default) or Redis."""
