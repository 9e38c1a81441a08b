"""Hookhub's built-in plugins. They import only ``hub.plugin`` and register through the
``hookhub`` entry points exactly like a third-party package."""
