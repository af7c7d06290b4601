"""board: the read side of the support desk. One row per ticket joining what intake, triage,
sla-clock, escalation and the notifier each know, a unified timeline, list/search/summary reads,
a live stream of changes and the ops dashboard page. It records no events about tickets."""
