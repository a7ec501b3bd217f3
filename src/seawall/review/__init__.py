"""Human review: console users and sessions, cases and their queue, reviewer decisions, the audit log."""

from seawall.review.audit import AuditLog
from seawall.review.cases import ReviewService, open_case
from seawall.review.users import ROLES, ConsoleUser, ConsoleUsers

__all__ = ["ROLES", "AuditLog", "ConsoleUser", "ConsoleUsers", "ReviewService", "open_case"]
