"""Web: FastAPI app factory and one router module per resource."""
