"""Rebuilding a service's read model from the log, beside the live one, then comparing or swapping.

`<service> rebuild` (every consuming service; see `cli.service_main`):

1. A fresh SHADOW database on the same server (`<database>__rebuild`), migrated like the live one.
   Tables that are configuration rather than projection (`RebuildSpec.copied`, e.g. escalation's
   directory) are copied from the live database first.
2. The service's topics are read from the beginning by a fresh consumer group of its own (the live
   group's offsets are never touched), up to the end offsets as they stood when the rebuild began,
   through the same handlers and inbox the live consumer uses (`EventConsumer`). Each handler sees
   the event's own `occurred_at` as "now" (`ReplayClock`), the instant closest to what the live
   service saw. No relay runs on the shadow, so the events its handlers derive stay unpublished in
   its outbox; no worker runs either (no scheduler, climber or mail dispatcher), and a message the
   handlers refuse is counted, not dead-lettered again. A progress line goes to stderr.
3. Every table of `RebuildSpec.compared` is compared, live against shadow: row count and an md5 of
   the ordered rows over the compared columns; for a table that differs, the keys only one side has
   and the columns that differ on a few rows. Columns stamped with the processing time and columns
   written by the service's workers are left out (each service's spec says which and why).
4. `--swap` (the service stopped): the shadow's outbox takes the live one's rows as they are
   (published or not, with their positions), keeping after them only events the rebuild derived
   that live never recorded (they are published when the service starts); the columns the workers
   own are carried from the live rows (`RebuildSpec.carried`); then both databases are renamed in
   one transaction (`<database>` -> `<database>__replaced_<stamp>`, the shadow -> `<database>`).
   The live group's offsets stay where they were: they are at or behind what the shadow applied,
   and whatever the group reads again is in the shadow's inbox already.

The parts, each importing only those below it: `spec` (what a service supplies), `kafka` (the log's
and the groups' offsets), `tables` (SQL helpers and copying rows), `replay`, `compare` and `swap`,
and `command` (the whole run and its report).
"""
