"""What escalation does: `handlers` (one per consumed event), `commands` (the agent's
acknowledgement, the directory), `climber` (due escalations climb), `views` (what the routes read)
and `workers` (its background loops: the climber). Each loads the ticket's escalation, calls the
domain, and saves it once."""
