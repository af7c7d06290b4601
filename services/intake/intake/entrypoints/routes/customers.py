"""The customer directory, for admins: list, read, create or replace, remove."""

from __future__ import annotations

from fastapi import APIRouter, Response

from supportdesk_service.auth import AdminAuth
from supportdesk_service.problems import Problem

from ...adapters.customers import Customer
from ...service_layer import customers as directory
from . import Runtime

router = APIRouter(prefix="/v1/customers", tags=["customers"], dependencies=[AdminAuth])


@router.get("", response_model=list[Customer])
async def list_customers(runtime: Runtime) -> list[Customer]:
    return await directory.all_customers(runtime.engine)


@router.get("/{customer_id}", response_model=Customer)
async def get_customer(customer_id: str, runtime: Runtime) -> Customer:
    found = await directory.get(runtime.engine, customer_id)
    if found is None:
        raise Problem(404, "Not Found", f"no customer {customer_id}")
    return found


@router.put("/{customer_id}", response_model=Customer)
async def put_customer(customer_id: str, customer: Customer, runtime: Runtime) -> Customer:
    """Create or replace a customer; its contacts (addresses, domains, phones, partners) with it."""
    if customer.id != customer_id:
        raise Problem(
            422,
            "Invalid request",
            "the body's id must match the path",
            errors=[{"field": "body.id", "message": f"expected {customer_id!r}"}],
        )
    await directory.put(runtime.engine, customer, runtime.clock)
    return customer


@router.delete("/{customer_id}", status_code=204)
async def delete_customer(customer_id: str, runtime: Runtime) -> Response:
    if not await directory.remove(runtime.engine, customer_id):
        raise Problem(404, "Not Found", f"no customer {customer_id}")
    return Response(status_code=204)
