"""triage: the right priority, severity, request type and queue for every ticket."""
