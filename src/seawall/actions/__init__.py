"""Action executors: what happens to an item once the rules decided (block, label, strike, …)."""

from seawall.actions.base import ActionContext, ActionExecutor, ActionResult
from seawall.actions.runner import ActionRunner

__all__ = ["ActionContext", "ActionExecutor", "ActionResult", "ActionRunner"]
