"""Command-line interface (``edgesnn``)."""
