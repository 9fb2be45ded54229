"""Import every domain's models so SQLAlchemy's metadata (and Alembic) sees all tables.

Later domains add their import here.
"""

import app.inventory.ledger  # noqa: F401, E402  (registers the stock check)
import app.points.ledger  # noqa: F401, E402  (registers the points check)
from app.activities.models import (  # noqa: F401, E402
    Activity,
    ActivityParticipant,
    GratitudeLetter,
    HoursLog,
    VolunteerTeam,
    VolunteerTeamMember,
)
from app.audit.models import AuditEvent  # noqa: F401
from app.auth.models import ApiToken, User, UserSession  # noqa: F401
from app.counter.models import (  # noqa: E402, F401
    Card,
    DayClose,
    IdempotencyKey,
    Redemption,
    RedemptionLine,
)
from app.donations.models import (  # noqa: F401
    DocumentSequence,
    Donor,
    Pledge,
    PledgeLine,
    Receipt,
    ReceiptLine,
    SchoolNeed,
)
from app.inventory.models import (  # noqa: F401
    Item,
    LotAllocation,
    StockLevel,
    StockLot,
    StockMove,
    Stocktake,
    StocktakeLine,
    StockTransfer,
    StockTransferLine,
)
from app.org.models import Alliance, District, LeadershipMember, School, SchoolClass  # noqa: F401
from app.points.models import (  # noqa: F401
    AllowancePosting,
    ExpiryPosting,
    PointAccount,
    PointEntry,
    PointRule,
)
from app.registry.models import (  # noqa: F401
    AidApplication,
    AidGrant,
    AidLevelChange,
    AidObjection,
    AidProgramme,
    Pairing,
    PairingLog,
    Student,
    StudentMove,
)
