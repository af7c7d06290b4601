"""Storage: the tables, the write model's statements, the people file."""
