# Fixtures on the real servers (Kafka, PostgreSQL) for every test in the repository.
pytest_plugins = ["supportdesk_devstack.testing"]
