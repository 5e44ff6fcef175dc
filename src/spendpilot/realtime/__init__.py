"""The /ws endpoint: handshake auth, client frames, per-connection ordered delivery."""
