"""The outbound HTTP transport: one SSRF-checked, time-bounded sender per process, mTLS client
certificates, and network failures as plain-words errors."""
