"""What escalation does: one handler per consumed event, the climbing worker, the agent's
acknowledgement. Each loads the ticket's escalation, calls the domain, and saves it once."""
