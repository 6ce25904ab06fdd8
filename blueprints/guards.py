"""The guards of the pages: `login_required` and `admin_required`."""
import functools

from flask import abort, g, redirect, request, url_for


def login_required(view):
    """Send anonymous visitors to the login page, then back to where they were going."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if g.account is None:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped


def admin_required(view):
    @functools.wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if not g.account.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapped
