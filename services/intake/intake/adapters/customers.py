"""The customer directory in intake's database, loaded from YAML and managed by the admin API."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field
from sqlalchemy import Row, delete, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from supportdesk_service.yaml_config import ConfigError, load_yaml

from ..domain.customers import (
    ContactKind,
    ContactRole,
    CustomerMatch,
    best_match,
    email_domain,
    normalise_email,
    normalise_phone,
)
from . import requesters
from .tables import customer_contacts, customers, ticket_numbers


class Person(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    email: EmailStr | None = None
    phone: str | None = None


class Customer(BaseModel):
    """A customer as the directory holds it (YAML and the admin API share this shape)."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    name: str
    policy: str = Field(description="an SLA policy name, e.g. data-insights")
    plan: str = Field(description="a plan of that policy, e.g. gold")
    email_domains: list[str] = []
    emails: list[EmailStr] = []
    phones: list[str] = []
    account_manager: Person | None = None
    emergency_contacts: list[Person] = []
    partners: list[str] = Field([], description="email addresses or @domains allowed to file on the customer's behalf")

    def contacts(self) -> list[tuple[ContactKind, str, ContactRole]]:
        out = [(ContactKind.DOMAIN, d.lower().lstrip("@"), ContactRole.MEMBER) for d in self.email_domains]
        out += [(ContactKind.EMAIL, normalise_email(e), ContactRole.MEMBER) for e in self.emails]
        out += [(ContactKind.PHONE, normalise_phone(p), ContactRole.MEMBER) for p in self.phones]
        for person in self.emergency_contacts:
            if person.email:
                out.append((ContactKind.EMAIL, normalise_email(person.email), ContactRole.EMERGENCY))
            if person.phone:
                out.append((ContactKind.PHONE, normalise_phone(person.phone), ContactRole.EMERGENCY))
        for p in self.partners:
            kind = ContactKind.DOMAIN if p.startswith("@") else ContactKind.EMAIL
            out.append((kind, p.lower().lstrip("@"), ContactRole.PARTNER))
        return list(dict.fromkeys(out))


class DirectoryFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    customers: list[Customer]


class DirectoryError(ConfigError):
    pass


def load_directory_file(path: str | Path) -> list[Customer]:
    """YAML 1.2, like every config file; errors name the file, line and field."""
    try:
        return load_yaml(path, DirectoryFile).customers
    except ConfigError as e:
        raise DirectoryError(str(e)) from None


async def upsert(conn: AsyncConnection, customer: Customer, now: Any) -> None:
    record = customer.model_dump(mode="json")
    await conn.execute(
        insert(customers)
        .values(customer_id=customer.id, record=record, updated_at=now)
        .on_conflict_do_update(index_elements=["customer_id"], set_={"record": record, "updated_at": now})
    )
    await conn.execute(delete(customer_contacts).where(customer_contacts.c.customer_id == customer.id))
    rows = [
        {"kind": k.value, "value": v, "customer_id": customer.id, "role": r.value} for k, v, r in customer.contacts()
    ]
    if rows:
        await conn.execute(insert(customer_contacts).values(rows).on_conflict_do_nothing())


async def remove(conn: AsyncConnection, customer_id: str) -> bool:
    await conn.execute(delete(customer_contacts).where(customer_contacts.c.customer_id == customer_id))
    return bool((await conn.execute(delete(customers).where(customers.c.customer_id == customer_id))).rowcount)


async def get(conn: AsyncConnection, customer_id: str) -> Customer | None:
    row = (await conn.execute(select(customers.c.record).where(customers.c.customer_id == customer_id))).first()
    return None if row is None else Customer.model_validate(row.record)


async def all_customers(conn: AsyncConnection) -> list[Customer]:
    rows = (await conn.execute(select(customers.c.record).order_by(customers.c.customer_id))).all()
    return [Customer.model_validate(r.record) for r in rows]


# Every web form, email and call asks this; one fixed statement (absent keys are NULL and match
# nothing) is built once instead of a SQLAlchemy construct per request.
_MATCH_SQL = """
    SELECT c.kind, c.customer_id, c.role, k.record ->> 'policy' AS policy, k.record ->> 'plan' AS plan,
           k.record -> 'account_manager' ->> 'email' AS account_manager_email
    FROM customer_contacts c JOIN customers k ON k.customer_id = c.customer_id
    WHERE (c.kind = 'email' AND c.value = :email)
       OR (c.kind = 'domain' AND c.value = :domain)
       OR (c.kind = 'phone' AND c.value = :phone)
    """
_MATCH = text(_MATCH_SQL)
# A new ticket asks for its number and its sender in one round trip: the sequence's next value on
# every row (one row with NULL matches when the sender is unknown). The directory is read here
# rather than cached in the process, so an admin's change is seen at once by every replica.
_MATCH_NUMBERED = text(
    f"SELECT n.number, m.* FROM (SELECT nextval('{ticket_numbers.name}') AS number) n "
    f"LEFT JOIN ({_MATCH_SQL}) m ON true"
)


def _keys(email: str | None, phone: str | None) -> dict[str, str | None]:
    return {
        "email": normalise_email(email) if email else None,
        "domain": email_domain(email) if email else None,
        "phone": normalise_phone(phone) if phone else None,
    }


async def match(conn: AsyncConnection, *, email: str | None = None, phone: str | None = None) -> CustomerMatch | None:
    """Who a sender is: by exact address or phone first, then by email domain."""
    if not email and not phone:
        return None
    return _best((await conn.execute(_MATCH, _keys(email, phone))).all())


# ... and the requester, found (share-locked) or created (`requesters.Lookup`), in the same round trip.
_MATCH_NUMBERED_REQUESTER = {
    by: text(
        f"WITH {requesters.lookup_ctes(by)} "
        "SELECT n.number, r.requester_id AS rq_requester_id, r.data_key AS rq_data_key, m.* "
        f"FROM (SELECT nextval('{ticket_numbers.name}') AS number) n LEFT JOIN requester r ON true "
        f"LEFT JOIN ({_MATCH_SQL}) m ON true"
    )
    for by in requesters.LOOKUPS
}


async def match_numbered(
    conn: AsyncConnection, *, email: str | None = None, phone: str | None = None
) -> tuple[int, CustomerMatch | None]:
    """The next ticket number and who the sender is (as `match`), in one statement."""
    rows = (await conn.execute(_MATCH_NUMBERED, _keys(email, phone))).all()
    return int(rows[0].number), _best([r for r in rows if r.kind is not None])


async def match_numbered_requester(
    conn: AsyncConnection, lookup: requesters.Lookup
) -> tuple[int, CustomerMatch | None, requesters.Requester | None]:
    """`match_numbered` and the requester of `lookup` in one statement; no requester when a
    concurrent first ticket of the same address won its insert (`requesters.requester_for` then)."""
    params = {**_keys(lookup.email, lookup.phone), **lookup.params()}
    rows = (await conn.execute(_MATCH_NUMBERED_REQUESTER[lookup.by], params)).all()
    first = rows[0]
    requester = (
        None if first.rq_requester_id is None else requesters.Requester(first.rq_requester_id, first.rq_data_key)
    )
    return int(first.number), _best([r for r in rows if r.kind is not None]), requester


def _best(rows: Sequence[Row[Any]]) -> CustomerMatch | None:
    exact = [r for r in rows if r.kind != "domain"]
    for group in (exact, [r for r in rows if r.kind == "domain"]):
        found = best_match(
            [
                CustomerMatch(r.customer_id, r.policy, r.plan, ContactRole(r.role), r.account_manager_email)
                for r in group
            ]
        )
        if found is not None:
            return found
    return None
