"""Services: the hub's operations, called by the API, the console, the CLI and the jobs.
They use storage and the queue and never import the web layer."""
