"""The service chassis: what makes a package of rules a running service, the same in all six.

- settings: the environment every service reads
- app: the HTTP app (health, readiness, metrics, shared routes); runtime: its long-lived parts
- problems, guard, auth: problem+json answers, what every request passes through, API keys
- cli: `<service> serve | migrate | rebuild | dead-letters ...`; migrations: alembic per service
- ops, dead_letter_routes, dead_letter_cli: the operators' routes and commands
- rebuild (a package): a read model rebuilt from the log into a shadow database, compared, swapped
- yaml_config, signing: YAML 1.2 directories with line numbers; Standard Webhooks signatures
"""
