"""A skill's name on invoices is set on the pricing page; without one, invoices name the skill id."""

from __future__ import annotations

from pieced_admin.models import SkillPricing

from ..orgs.support import text


def test_the_display_name_is_set_when_adding_and_changed_when_editing(admin_client, post, session):
    post("/pricing/skills", {"new-skill_id": "searxng-local-search", "new-daily_price_chf": "0.10",
                             "new-display_name": "Private web search"}, htmx=True)
    assert session.get(SkillPricing, "searxng-local-search").display_name == "Private web search"
    assert "Private web search" in text(admin_client.get("/pricing"))
    edit = text(admin_client.get("/pricing/skills/searxng-local-search/edit", headers={"HX-Request": "true"}))
    assert 'value="Private web search"' in edit
    post("/pricing/skills/searxng-local-search", {"edit-daily_price_chf": "0.10", "edit-display_name": "  "},
         htmx=True)
    assert session.get(SkillPricing, "searxng-local-search").display_name is None  # back to the skill id
