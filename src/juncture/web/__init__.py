"""The web edge: server-rendered pages (Jinja2 + htmx) over the same room services as the API."""
