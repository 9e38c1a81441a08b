"""Where state lives: settings, the database (models, sessions, fast statements, migrations),
secrets at rest, Redis and the queues, shared rate limits, and the audit trail."""
