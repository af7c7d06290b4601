from datetime import datetime
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel

from supportdesk_service.auth import AgentAuth

from ...service_layer import views
from . import Runtime

router = APIRouter(prefix="/v1/notifications", tags=["notifications"], dependencies=[AgentAuth])


class DeliveryView(BaseModel):
    cause_event_id: UUID
    ticket_id: str
    recipient: str
    channel: str
    template: str
    subject: str | None
    status: str
    attempts: int
    last_error: str | None
    message_id: str | None
    sent_at: datetime | None
    created_at: datetime


@router.get("", response_model=list[DeliveryView])
async def list_notifications(
    runtime: Runtime, ticket_id: str = Query(min_length=1, max_length=100)
) -> list[DeliveryView]:
    """What was (or will be) sent about a ticket: status, attempts and the last error."""
    return [DeliveryView.model_validate(r) for r in await views.deliveries_of(runtime.engine, ticket_id)]
