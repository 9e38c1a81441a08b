"""From an inbound request to a committed event: the connection cache, the gateway (key, rate
limit, provider, envelope, dedupe), recorded rejections, and the outbox hand-off to routing."""
