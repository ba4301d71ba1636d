"""Every domain's ORM models in one import, for Alembic and the tests (nothing else lives here)."""

from app.api_keys.models import ApiKey, api_key_handles
from app.connections.models import Connection, ConnectionEvent, Sale, connection_handles
from app.db import Base
from app.delivery.models import OutboxMessage
from app.email_tools.models import EmailToolSync
from app.handles.models import Handle
from app.idempotency.models import IdempotencyKey
from app.leads.models import ConsentEvent, Lead
from app.links.models import (
    Route,
    VariantRollup,
    Visit,
    VisitorDay,
    VisitorSalt,
    VisitPrune,
    VisitRollup,
)
from app.pages.models import Page, StoredFile, StoredFileChunk
from app.platforms.models import PlatformSnapshot
from app.reports.models import (
    LeadRollup,
    ReportDay,
    ReportMonth,
    ReportZoneOffset,
    SocialMetric,
)
from app.users.models import User, user_handles
from app.webhooks.models import WebhookDelivery, WebhookEndpoint

__all__ = [
    "ApiKey",
    "Base",
    "Connection",
    "ConnectionEvent",
    "ConsentEvent",
    "EmailToolSync",
    "Handle",
    "IdempotencyKey",
    "Lead",
    "LeadRollup",
    "OutboxMessage",
    "Page",
    "PlatformSnapshot",
    "ReportDay",
    "ReportMonth",
    "ReportZoneOffset",
    "Route",
    "Sale",
    "SocialMetric",
    "StoredFile",
    "StoredFileChunk",
    "User",
    "VariantRollup",
    "Visit",
    "VisitPrune",
    "VisitRollup",
    "VisitorDay",
    "VisitorSalt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "api_key_handles",
    "connection_handles",
    "user_handles",
]
