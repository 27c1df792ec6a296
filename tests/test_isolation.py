"""The bench itself: what one test writes is gone for the next."""

from __future__ import annotations

import sqlalchemy as sa

from pieced_admin.models import OrgBillingConfig


def _orgs(session):
    return session.execute(sa.select(sa.func.count()).select_from(OrgBillingConfig)).scalar_one()


def test_a_commits_an_org(session):
    session.add(OrgBillingConfig(zitadel_org_id="org-isolation"))
    session.commit()
    assert _orgs(session) == 1


def test_b_does_not_see_it(session):
    assert _orgs(session) == 0
