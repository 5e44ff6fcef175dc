"""The browser app: static ES modules and a stylesheet, served by the API under /static."""

from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"
