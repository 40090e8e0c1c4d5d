"""The only package with SQL. ``Store`` is its typed API; ``Database`` the connections."""

from fedi_forum.store.db import Database
from fedi_forum.store.discussions import NewDiscussion
from fedi_forum.store.primitives import Outgoing
from fedi_forum.store.store import Store

__all__ = ["Database", "NewDiscussion", "Outgoing", "Store"]
