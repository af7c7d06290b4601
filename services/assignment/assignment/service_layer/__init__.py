"""What assignment does: `handlers` (the ticket pool, from the events it consumes), `directory`
(the people file and the admin API), `commands` (agents' assign, claim, unassign, third party),
`assigner` (one assignment pass), `views` (what the routes read) and `workers` (the pass's loop).
`holders` is the pure account of who holds a ticket and the events each change makes."""
