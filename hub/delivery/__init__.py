"""From an event to messages sent: routing, the approval gate, dispatch to the deliver queue, and
the engine (render, build, sign, pace, send, interpret, retry, dead-letter, endpoint health)."""
