"""The REST API under /api/v1/: thin views over the services, selectors and the one access layer."""
