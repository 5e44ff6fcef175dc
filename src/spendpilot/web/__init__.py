"""The browser chat app: static files served by the API."""
