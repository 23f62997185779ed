"""mlship.api: the FastAPI inference service for registered classifiers."""
