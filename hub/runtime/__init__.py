"""What the pipeline knows of connections while it runs: the loaded plugins, a connection's view
with its secrets decrypted, and connection changes (activation, cache invalidation) made once."""
