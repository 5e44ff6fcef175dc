"""REST routers: health, discovery, agents, threads, runs, usage."""
