"""Admin operations on connections, routes, deliveries, approvals and tokens, called by the API,
the console and the CLI alike."""
