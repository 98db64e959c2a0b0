"""A one-off measurement of the dashboard charts against charting libraries: __main__.py."""
