"""The outbound delivery engine: render, check, send, interpret, retry, dead-letter."""
