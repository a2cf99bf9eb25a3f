"""What a browser loads from the service: the report page with its vendored chart library, and the catalog
page with its JSON API."""
