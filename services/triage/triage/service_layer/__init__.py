"""What triage does: `handlers` (one per consumed event), `commands` (agents' overrides), `views`
(what the routes read) and `workers` (its background loops: none). Each handler and command loads
what it needs, calls the domain, and saves once."""
