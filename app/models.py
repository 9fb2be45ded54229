"""Import every domain's models so SQLAlchemy's metadata (and Alembic) sees all tables.

Later domains add their import here.
"""

from app.audit.models import AuditEvent  # noqa: F401
from app.auth.models import ApiToken, User, UserSession  # noqa: F401
from app.org.models import Alliance, District, LeadershipMember, School, SchoolClass  # noqa: F401
