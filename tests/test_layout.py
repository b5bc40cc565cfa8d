"""accounts.templatetags.layout: parts of pages rendered once per the values they are given
and the language, then kept. What matters is that nothing is shared that should differ: a
value, the language, the role."""

from django.template import Context, Template
from django.utils import translation

from accounts.templatetags import layout

FORM = '{% load layout %}{% render_once "history/_filter_form.html" form=form filtered=filtered %}'


def _form(**values) -> dict:
    form = {
        "event_types": [{"value": "delete", "label": "Delete", "checked": False}],
        "entity_types": [("company", "Company")],
        "entity_type": "",
        "entity_id": "",
        "users": [("7", "ann")],
        "actor": "",
        "occurred_after": {"value": "", "type": "date"},
        "occurred_before": {"value": "", "type": "date"},
        "search": "",
    }
    return form | values


def _render(form: dict, filtered: int = 0) -> str:
    return Template(FORM).render(Context({"form": form, "filtered": filtered}))


def test_a_form_is_rendered_once_per_its_values(monkeypatch):
    layout._render.cache_clear()
    calls = []
    real = layout.render_to_string
    monkeypatch.setattr(layout, "render_to_string", lambda *args: calls.append(args) or real(*args))

    first = _render(_form())
    assert _render(_form()) == first
    assert len(calls) == 1  # the second came from memory

    chosen = _render(_form(actor="7", search="acme <b>"), filtered=2)
    assert len(calls) == 2
    assert '<option value="7" selected>ann</option>' in chosen
    assert 'value="acme &lt;b&gt;"' in chosen  # escaped as the template escapes it
    assert "Reset all filters" in chosen and "Reset all filters" not in first
    ticked = _render(_form(event_types=[{"value": "delete", "label": "Delete", "checked": True}]))
    assert 'value="delete" checked' in ticked and 'value="delete" checked' not in first


def test_each_language_has_its_own(monkeypatch):
    layout._render.cache_clear()
    with translation.override("en"):
        english = _render(_form())
    with translation.override("de"):
        german = _render(_form())
    assert "Apply filters" in english
    assert "Apply filters" not in german


def test_the_main_navigation_differs_by_role_and_page(admin_user, employee, support_user):
    layout._render.cache_clear()
    nav = Template("{% load layout %}{% main_nav %}")

    def render(user, page):
        return nav.render(Context({"user": user, "nav": page, "plan_features": {}}))

    admin = render(admin_user, "history")
    assert "Backups" in admin and "Restore requests" in admin
    assert 'aria-current="page">History' in admin.replace("\n", "")
    staff = render(employee, "history")
    assert "Backups" not in staff and "History" in staff
    dashboard = render(employee, "dashboard")
    assert 'aria-current="page">Dashboard' in dashboard
    assert dashboard.count('aria-current="page"') == 1
    assert "Support console" in render(support_user, "console")
