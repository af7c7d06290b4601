"""What sla-clock does: `handlers` (one per consumed event), `projection` (clocks kept in step with
the facts), `policy_admin` (operators' commands), `views`, `reports` and `what_if` (what the routes
read), `preview`, and `workers` (its background loops: the scheduler). Each handler and command loads
what it needs, calls the domain, and saves once."""
