"""Imports every room's tables so that ``Base.metadata`` is complete (for Alembic and tests)."""

from juncture.access import audit as _audit  # noqa: F401 - registers the audit flush listener
from juncture.access import models as _access  # noqa: F401 - registers tables
from juncture.catalog import models as _catalog  # noqa: F401 - registers tables
from juncture.detect import models as _detect  # noqa: F401 - registers tables
from juncture.incidents import models as _incidents  # noqa: F401 - registers tables
from juncture.jobs import models as _jobs  # noqa: F401 - registers tables
from juncture.kpis import models as _kpis  # noqa: F401 - registers tables
from juncture.signals import models as _signals  # noqa: F401 - registers tables
from juncture.signals import sqlfuncs as _sqlfuncs  # noqa: F401 - SQL functions on connect
from juncture.store.base import Base

metadata = Base.metadata

__all__ = ["metadata"]
