"""Flask extensions, created once and bound to the app in `create_app`."""
from flask_mail import Mail
from flask_wtf.csrf import CSRFProtect

mail = Mail()
csrf = CSRFProtect()
