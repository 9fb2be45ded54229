"""Organisation pages (being built)."""

from flask import Blueprint, render_template
from flask_login import current_user

from app.auth.access import roles_required
from app.auth.roles import Role
from app.auth.scope import get_scoped_or_404
from app.org.models import School

bp = Blueprint("org", __name__, url_prefix="/org")

ORG_VIEWERS = (Role.DISTRICT_ADMIN, Role.ALLIANCE_LEAD, Role.SCHOOL_OFFICER)


@bp.route("/")
@roles_required(*ORG_VIEWERS)
def index():
    return render_template("org/index.html")


@bp.route("/schools/<int:school_id>")
@roles_required(*ORG_VIEWERS)
def school_detail(school_id: int):
    school = get_scoped_or_404(School, school_id, current_user)
    return render_template("org/school_detail.html", school=school)
