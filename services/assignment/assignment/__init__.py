"""assignment: who works here (agents, teams, their shifts and availability) and who holds each
ticket. Tickets wait in the pool of the team serving their queue; a team's rule hands them out to
agents on shift, most urgent-to-breach first, and agents assign, claim and hand back by hand."""
