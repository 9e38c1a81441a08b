"""Domain types and rules, with no Flask, Redis or SQL: errors, statuses and their moves, ids,
time, paths into JSON, body parsing, match rules, the field map and sandboxed templates."""
