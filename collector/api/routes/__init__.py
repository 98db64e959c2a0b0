"""The API's routes, one module per area; `collector.api.app.create_app` mounts them all."""
