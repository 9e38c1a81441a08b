"""Outbound HTTP: the SSRF address policy and the sender every channel's requests go through."""
