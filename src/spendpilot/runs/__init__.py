"""Run lifecycle: accept a message, queue per thread, execute, log events, cancel, deadline."""
