"""Outbound webhooks: subscriptions, a transactional outbox and a signed, retrying sender."""

from seawall.webhooks.delivery import DeliveryConfig, WebhookSender
from seawall.webhooks.events import EVENT_TYPES
from seawall.webhooks.service import WebhookService
from seawall.webhooks.ssrf import TargetPolicy, UnsafeTarget

__all__ = ["EVENT_TYPES", "DeliveryConfig", "TargetPolicy", "UnsafeTarget", "WebhookSender", "WebhookService"]
