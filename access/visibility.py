"""Which agents an account may see and export: those granted to it, or all for admins."""
from models import Agent, Grant


def visible_agents(account):
    """Agents `account` may see and export, by name; an archived agent is no one's."""
    query = Agent.select().where(Agent.archived_at.is_null()).order_by(Agent.name)
    if not account.is_admin:
        query = query.join(Grant).where(Grant.account == account)
    return query


def can_see(account, agent_id):
    """Checked again wherever an agent's data leaves: a build, a download."""
    return visible_agents(account).where(Agent.id == agent_id).exists()
