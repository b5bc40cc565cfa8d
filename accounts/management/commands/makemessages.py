"""Django's makemessages, knowing one more marker: ``ngettext_noop(singular, plural)`` (a
line with a plural stored untranslated, support.chat_lines)."""

from django.core.management.commands import makemessages


class Command(makemessages.Command):
    xgettext_options = [*makemessages.Command.xgettext_options, "--keyword=ngettext_noop:1,2"]
