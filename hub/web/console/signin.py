"""Sign in with an API token, sign out, and an owner's choice of the workspace it acts in."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from hub.web.console.blueprint import bp
from hub.web.console.session import guard, safe_next, sign_in, sign_out, switch_workspace

bp.before_request(guard)

REFUSED = "That token is not valid: it is unknown, revoked or expired."


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        return render_template("console/login.html", title="Sign in", next=request.args.get("next", ""))
    if sign_in(request.form.get("token", "")) is None:
        return render_template("console/login.html", title="Sign in", next=request.form.get("next", ""),
                               error=REFUSED), 401
    return redirect(safe_next(request.form.get("next")), 303)


@bp.route("/logout", methods=["POST"], endpoint="sign_out")
def sign_out_view():
    sign_out()
    flash("You are signed out.", "success")
    return redirect(url_for("console.login"), 303)


@bp.route("/workspace", methods=["POST"], endpoint="switch_workspace")
def switch_workspace_view():
    workspace = switch_workspace(request.form.get("workspace", ""))
    flash(f"You now act in the workspace {workspace!r}.", "success")
    return redirect(url_for("console.dashboard"), 303)
