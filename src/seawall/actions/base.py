"""The one small interface every action implements, and what an action may touch while it runs.

An action runs inside the transaction that stores the item and its decision, so what it writes
(a strike, a suspension, an outbox event) commits or rolls back together with the decision. A new
action is one file with one class, registered through the plugin registry; the rules language
learns its name and options from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from sqlalchemy.orm import Session

from seawall.models.records import Action, Item

if TYPE_CHECKING:
    from seawall.accounts.service import AccountService


class CaseOpener(Protocol):
    """Opens (or raises) the review case of an item in the caller's transaction; returns the case id.

    The composition root hands the review package's ``open_case`` to the action runner, so actions
    reach review through their context and never import it.
    """

    def __call__(self, s: Session, item: Item, *, source: str, reason: str, tier: str, media: bytes | None,
                 queue: str = "standard") -> int: ...


@dataclass(slots=True)
class ActionContext:
    session: Session
    item: Item
    decision_id: int
    accounts: AccountService
    #: Outbox events to write with the decision: (event type, data).
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    #: The upload's bytes while it is being decided (None for decisions taken later, and for retro-matches).
    content: bytes | None = None
    #: How review cases are opened; given by the runner (see :class:`CaseOpener`).
    cases: CaseOpener | None = None

    def emit(self, event_type: str, data: dict[str, Any]) -> None:
        self.events.append((event_type, data))

    def open_case(self, *, source: str, reason: str, tier: str, queue: str = "standard") -> int:
        """Put the item in front of reviewers in this transaction, keeping the upload's bytes when known."""
        if self.cases is None:
            raise RuntimeError("this action context cannot open review cases (no case opener was given)")
        return self.cases(self.session, self.item, source=source, reason=reason, tier=tier, media=self.content,
                          queue=queue)

    def item_ref(self) -> dict[str, Any]:
        return {"item_id": self.item.id, "content_id": self.item.content_id, "account_id": self.item.account_id,
                "content_type": self.item.content_type}


@dataclass(slots=True)
class ActionResult:
    #: ``done``, or ``skipped`` when the action did not apply (a strike for an item without account).
    status: str = "done"
    detail: dict[str, Any] = field(default_factory=dict)


class ActionExecutor:
    """Base class: a bare action (``- block``) with no options and no side effects beyond its record."""

    name: ClassVar[str] = ""
    #: The verdict this action implies for the platform (allow / block / review / label), if any.
    verdict: ClassVar[str | None] = None
    description: ClassVar[str] = ""

    def parse_params(self, value: Any) -> dict[str, Any]:
        """Options written in a rule (``{name: value}``); None for the bare form. ValueError if wrong."""
        if value is not None:
            raise ValueError("takes no options; write it as a bare word")
        return {}

    def execute(self, ctx: ActionContext, action: Action) -> ActionResult:
        return ActionResult()
