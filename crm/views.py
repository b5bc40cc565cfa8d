"""The CRM's browser pages: thin views over crm.selectors (reads, always inside the user's
account) and crm.services (every write). One set of generic views serves all five entity types,
parametrised by the registry in crm.entities."""

import copy
from functools import cached_property

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import models
from django.http import HttpResponseRedirect
from django.middleware.csrf import get_token
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.generic import FormView, TemplateView

from accounts.plans import Feature, plan_has
from core.api.filters import positive_int_or_none
from core.errors import RuleViolation
from core.views import MemberRequiredMixin
from crm import selectors, services
from crm.entities import ENTITIES, Entity, entity_for_model
from crm.forms import FORMS, editable_fields
from crm.templatetags.crm_display import record_url
from history.display import event_rows, record_history_url
from history.selectors import events_for_record

PER_PAGE_CHOICES = (25, 50, 100)
DEFAULT_SORT = "-id"
LINKED_LIMIT = 20  # linked records listed on a detail page; the rest are one click away
HISTORY_LIMIT = 20  # a detail page's latest events; the history page has them all
DASHBOARD_LATEST = 10
DASHBOARD_COLUMNS = {
    "deal": ("title", "stage", "amount", "currency"),
    "activity": ("subject", "type", "due_at", "completed"),
}
RECORD_META_FIELDS = ("created_by", "created_at", "updated_at")


def _columns(entity: Entity, names, *, sort: str | None = None) -> list[dict]:
    """Table headers. With ``sort`` (the list's current order) sortable ones link to toggle it."""
    columns = []
    for name in names:
        field = entity.model._meta.get_field(name)
        column = {
            "name": name,
            "label": capfirst(field.verbose_name),
            "numeric": isinstance(field, models.DecimalField | models.IntegerField),
        }
        if sort is not None and name in entity.ordering_fields:
            column["direction"] = {name: "asc", f"-{name}": "desc"}.get(sort)
            column["next_sort"] = f"-{name}" if sort == name else name
        columns.append(column)
    return columns


class DashboardView(MemberRequiredMixin, TemplateView):
    template_name = "crm/dashboard.html"

    def get_context_data(self, **kwargs):
        counts = [
            (entity, selectors.records_for_account(account=self.account, entity=entity).count())
            for entity in ENTITIES.values()
        ]
        latest = []
        for entity_type, columns in DASHBOARD_COLUMNS.items():
            entity = ENTITIES[entity_type]
            records = selectors.records_for_account(account=self.account, entity=entity)
            latest.append(
                (entity, _columns(entity, columns), records.order_by("-id")[:DASHBOARD_LATEST])
            )
        return super().get_context_data(nav="dashboard", counts=counts, latest=latest, **kwargs)


class EntityViewMixin(MemberRequiredMixin):
    entity: Entity | None = None  # set per URL by crm.urls

    def member_checked(self) -> None:
        if "pk" in self.kwargs:
            # Another account's record is "not found" whatever the method, before anything else.
            self.record  # noqa: B018

    @cached_property
    def record(self):
        return selectors.record_get(
            account=self.account, entity=self.entity, record_id=self.kwargs["pk"]
        )

    def get_context_data(self, **kwargs):
        return super().get_context_data(entity=self.entity, nav=self.entity.type.value, **kwargs)


class RecordListView(EntityViewMixin, TemplateView):
    """``?q=`` search, ``?sort=`` (``-`` for descending), ``?page=`` and ``?per_page=``, and
    ``?<link>=<id>`` (e.g. a company's contacts) as the detail pages' "show all" links use."""

    template_name = "crm/record_list.html"

    def get_context_data(self, **kwargs):
        entity, params = self.entity, self.request.GET
        records = selectors.records_for_account(account=self.account, entity=entity)

        link_filters = []
        for field in entity.link_fields:
            if field in params:
                target_id = positive_int_or_none(params[field])
                if target_id is None:
                    records = records.none()
                else:
                    records = records.filter(**{f"{field}_id": target_id})
                link_filters.append(self._link_filter(field, target_id))

        query = params.get("q", "").replace("\x00", "").strip()
        records = selectors.records_search(records, entity, query.split())

        sort = params.get("sort", DEFAULT_SORT)
        if sort.removeprefix("-") not in entity.ordering_fields:
            sort = DEFAULT_SORT
        # Ties (same name, same stage) keep a stable order across pages.
        if sort.removeprefix("-") == "id":
            records = records.order_by(sort)
        else:
            records = records.order_by(sort, "-id")

        per_page = positive_int_or_none(params.get("per_page"))
        if per_page not in PER_PAGE_CHOICES:
            per_page = PER_PAGE_CHOICES[0]
        page = Paginator(records, per_page).get_page(params.get("page"))

        return super().get_context_data(
            page=page,
            columns=_columns(entity, entity.list_columns, sort=sort),
            query=query,
            sort=sort,
            per_page=per_page,
            per_page_choices=PER_PAGE_CHOICES,
            link_filters=link_filters,
            **kwargs,
        )

    def _link_filter(self, field: str, target_id: int | None) -> dict:
        target_entity = entity_for_model(self.entity.model._meta.get_field(field).related_model)
        try:
            target = selectors.record_get(
                account=self.account, entity=target_entity, record_id=target_id
            )
        except RuleViolation:
            target = None
        others = self.request.GET.copy()
        for name in (field, "page"):
            others.pop(name, None)
        return {
            "entity": target_entity,
            "target": target,
            "remove_url": f"?{others.urlencode()}",
        }


class RecordDetailView(EntityViewMixin, TemplateView):
    """A record's page; a record in the recycle bin leads to a page saying so (who deleted it
    and when, with Restore and Show in the bin for those who may), not a bare 404."""

    template_name = "crm/record_detail.html"
    binned = None

    def member_checked(self) -> None:
        try:
            super().member_checked()
        except RuleViolation as violation:
            if violation.code != "not_found" or self.request.method != "GET":
                raise
            self.binned = selectors.record_in_bin(
                account=self.account, entity=self.entity, record_id=self.kwargs["pk"]
            )
            if self.binned is None:
                raise

    def get(self, request, *args, **kwargs):
        if self.binned is None:
            return super().get(request, *args, **kwargs)
        record = self.binned
        entry = record.bin_entry
        user = request.user
        return self.render_to_response(
            {
                "entity": self.entity,
                "nav": self.entity.type.value,
                "record": record,
                "entry": entry,
                "with_other": entry.entity_type != self.entity.type.value
                or entry.entity_id != record.pk,
                # Employees see and restore the entries they deleted (recyclebin's rule).
                "can_restore": user.is_account_admin or entry.deleted_by_id == user.pk,
            },
            status=404,
        )

    def get_template_names(self):
        return ["crm/record_in_bin.html"] if self.binned is not None else [self.template_name]

    def get_context_data(self, **kwargs):
        record = self.record
        link_name = self.entity.type.value  # the field by which other records link to this one
        linked = []
        for entity_type, records in selectors.record_linked(record=record).items():
            entity = ENTITIES[entity_type]
            linked.append(
                {
                    "entity": entity,
                    "columns": _columns(
                        entity, [name for name in entity.list_columns if name != link_name]
                    ),
                    "records": records.order_by("-id")[:LINKED_LIMIT],
                    "count": records.count(),
                    "list_url": f"{reverse(f'crm:{entity_type}_list')}?{link_name}={record.pk}",
                    "create_url": f"{reverse(f'crm:{entity_type}_create')}?{link_name}={record.pk}",
                }
            )
        events = list(
            events_for_record(
                account=self.account, entity_type=self.entity.type.value, entity_id=record.pk
            ).order_by("-id")[: HISTORY_LIMIT + 1]
        )
        user = self.request.user
        can_undo = plan_has(self.account.plan, Feature.REVERT)
        return super().get_context_data(
            record=record,
            history=event_rows(
                account=self.account,
                events=events[:HISTORY_LIMIT],
                undo_by=user if can_undo else None,
            ),
            can_undo=can_undo and bool(events),
            undo_own_only=not user.is_account_admin,
            history_more=len(events) > HISTORY_LIMIT,
            history_url=record_history_url(record),
            history_limit=HISTORY_LIMIT,
            add_activity_url=next(
                (s["create_url"] for s in linked if s["entity"].type == "activity"), None
            ),
            fields=editable_fields(self.entity),
            meta_fields=RECORD_META_FIELDS,
            linked=linked,
            linked_limit=LINKED_LIMIT,
            **kwargs,
        )


class RecordFormView(EntityViewMixin, FormView):
    """Shared by create and edit: the form validates, a service writes. A ValidationError from
    the service (a link to another account, a broken rule) is shown on the form."""

    template_name = "crm/record_form.html"

    def get_form_class(self):
        return FORMS[self.entity.type.value]

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "account": self.account}

    def form_valid(self, form):
        data = {name: form.cleaned_data[name] for name in form.fields}
        try:
            record = self.save(data)
        except ValidationError as error:
            form.service_errors_add(error)
            return self.form_invalid(form)
        return HttpResponseRedirect(record_url(record))

    def save(self, data):
        raise NotImplementedError


class RecordCreateView(RecordFormView):
    def get_initial(self):
        """Links prefilled from the query, as "Add activity" on a company's page does."""
        params = self.request.GET
        return {field: params[field] for field in self.entity.link_fields if field in params}

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "instance": self.entity.model(account=self.account)}

    def save(self, data):
        record = services.record_create(
            account=self.account, actor=self.request.user, entity=self.entity, data=data
        )
        messages.success(
            self.request,
            _("%(type)s “%(title)s” was created.")
            % {"type": capfirst(self.entity.verbose_name), "title": record},
        )
        return record


class RecordEditView(RecordFormView):
    def get_form_kwargs(self):
        # The form validates on a copy: the service compares the record's values before and
        # after, so the form must not have changed the record itself.
        return {**super().get_form_kwargs(), "instance": copy.copy(self.record)}

    def get_context_data(self, **kwargs):
        return super().get_context_data(record=self.record, **kwargs)

    def save(self, data):
        changes = services.record_update(record=self.record, actor=self.request.user, data=data)
        if changes:
            messages.success(
                self.request, _("Your changes to “%(title)s” were saved.") % {"title": self.record}
            )
        else:
            messages.info(self.request, _("Nothing was changed."))
        return self.record


class RecordDeleteView(EntityViewMixin, TemplateView):
    """GET: what the deletion would take with it, and a confirm button. POST: delete."""

    template_name = "crm/record_confirm_delete.html"

    def get_context_data(self, **kwargs):
        link_name = self.entity.type.value
        goes_with, stays = [], []
        for entity_type, records in selectors.record_linked(record=self.record).items():
            count = records.count()
            if not count:
                continue
            entity = ENTITIES[entity_type]
            on_delete = entity.model._meta.get_field(link_name).remote_field.on_delete
            (goes_with if on_delete is models.CASCADE else stays).append(
                {"entity": entity, "count": count}
            )
        return super().get_context_data(
            record=self.record,
            goes_with=goes_with,
            stays=stays,
            retention_days=settings.BIN_RETENTION_DAYS,
            **kwargs,
        )

    def post(self, request, *args, **kwargs):
        title = str(self.record)
        entry = services.record_delete(record=self.record, actor=request.user)
        activities = entry.item_count - 1
        if activities:
            text = ngettext(
                "{type} “{title}” was moved to the {bin} with its {count} activity. "
                "It is kept there for {days} days.",
                "{type} “{title}” was moved to the {bin} with its {count} activities. "
                "They are kept there for {days} days.",
                activities,
            )
        else:
            text = _("{type} “{title}” was moved to the {bin}. It is kept there for {days} days.")
        if entry.hidden_links.exists():
            text += " " + _("Linked records stay, but lose their link to it until it is restored.")
        back = reverse(f"crm:{self.entity.type.value}_list")
        message = format_html(
            text,
            type=capfirst(self.entity.verbose_name),
            title=title,
            count=activities,
            days=settings.BIN_RETENTION_DAYS,
            bin=format_html('<a href="{}">{}</a>', reverse("recyclebin:list"), _("recycle bin")),
        )
        if plan_has(self.account.plan, Feature.BIN_RESTORE):
            # Undo in one click: the bin's own restore of this entry, then back here.
            message = format_html(
                '{} <form method="post" action="{}" class="message__undo">'
                '<input type="hidden" name="csrfmiddlewaretoken" value="{}">'
                '<input type="hidden" name="entry" value="{}">'
                '<input type="hidden" name="next" value="{}">'
                '<button type="submit" class="btn btn--small">{}</button></form>',
                message,
                reverse("recyclebin:restore"),
                get_token(request),
                entry.pk,
                back,
                _("Undo"),
            )
        messages.success(request, message)
        return HttpResponseRedirect(back)
