"""The inbound gateway: ``/hooks/<provider>/<connection_id>``, verified, recorded, never lost."""
