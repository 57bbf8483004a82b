"""Imports every domain's tables so the shared MetaData (and Alembic) sees the whole schema."""

from __future__ import annotations

import omnicx.access.tables
import omnicx.analytics.tables
import omnicx.audiences.tables
import omnicx.collect.tables
import omnicx.identity.tables
import omnicx.profiles.tables  # noqa: F401
from omnicx.store.metadata import metadata

__all__ = ["metadata"]
