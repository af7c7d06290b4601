"""A DATABASE_URL whose TLS parameters mean nothing stops the service at start, naming them."""

import pytest
from pydantic import ValidationError

from supportdesk_service.settings import ServiceSettings


def test_a_service_with_a_nonsense_sslmode_does_not_start() -> None:
    with pytest.raises(ValidationError, match="DATABASE_URL's sslmode must be one of"):
        ServiceSettings(DATABASE_URL="postgresql://u@db/postgres?sslmode=verify-everything")
    with pytest.raises(ValidationError, match=r"DATABASE_URL: .*No such file"):
        ServiceSettings(DATABASE_URL="postgresql://u@db/postgres?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem")
    ServiceSettings(DATABASE_URL="postgresql://u@db/postgres?sslmode=require")  # a sound one passes
