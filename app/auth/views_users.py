"""Managing staff accounts inside one's scope (being built)."""

from flask import Blueprint, render_template

from app.auth.access import roles_required
from app.auth.roles import Role

bp = Blueprint("users", __name__, url_prefix="/users")


@bp.route("/")
@roles_required(Role.DISTRICT_ADMIN, Role.SCHOOL_OFFICER)
def index():
    return render_template("users/index.html")
