"""An agent's slug: its name as report files are named after it."""
import re
import unicodedata

from models import Agent

MAX_SLUG_BYTES = 100


def unique_slug(name):
    """A file-name-safe slug for `name` (letters of any script kept), unique among agents."""
    base = re.sub(r"[\W_]+", "-", unicodedata.normalize("NFKC", name).lower()).strip("-") or "agent"
    base = base.encode()[:MAX_SLUG_BYTES].decode(errors="ignore").rstrip("-")  # file names are bounded in bytes
    slug, n = base, 1
    while Agent.select().where(Agent.slug == slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug
