"""HTTP: the FastAPI app factory and its routers. Nothing imports this package but the CLI and tests."""
