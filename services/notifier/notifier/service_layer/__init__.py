"""What notifier does: `handlers` (one per consumed event), `dispatcher` (sending what the ledger
holds), `views` (what the routes read) and `workers` (its background loops: the dispatcher). Each
handler loads what it needs, calls the domain, and saves once."""
