"""The bottom layer: what the domain apps and the service all need, and
nothing that knows about either — the error type, the name rule, JSON text,
time. It imports no other package of the project (docs/architecture.md)."""
