"""The chaos harness: the whole desk as real processes on real servers, a steady stream of web,
email and phone tickets through intake, a disruption, and the invariants checked afterwards.

Invariants: every ticket intake acknowledged (2xx) is in every read model; no effect twice (event
ids and ticket numbers on Kafka, mail at the SMTP sink); no partition stuck (each consumer group's
committed offsets reach the log end); readiness answers and is truthful. A failed check names what
was lost, duplicated or stuck; each scenario adds one summary row.

The parts, each importing only those below it: `desk` (the services as processes, the traffic
they are sent, `Desk.verify`), `judge` (the invariants over what was sent and what the log, the
mail sink and the webhook receiver hold), `servers` (reading the log, the groups' offsets and the
read models), `summary` (the verdict and its table row) and `traffic` (the scale of a scenario,
what was sent, how tickets are posted). The scenarios themselves are in tests/chaos.
"""
