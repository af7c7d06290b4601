"""escalation: tier -> tier lead -> account manager -> executive, and SWAT for severity 1-2."""
