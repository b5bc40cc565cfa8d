"""The contacts' search column: first name, last name, email and phone in capitals, one per line,
kept by the database (a stored generated column; crm.models.Contact.search).

On PostgreSQL adding it rewrites crm_contact under an exclusive lock: about 20 s per million
contacts on the bench machine (bench/README.md). 0007 moves the trigram index onto it.
"""

import django.db.models.functions.text
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0005_contact_search_statistics"),
    ]

    operations = [
        migrations.AddField(
            model_name="contact",
            name="search",
            field=models.GeneratedField(
                db_persist=True,
                expression=django.db.models.functions.text.Upper(
                    django.db.models.functions.text.Concat(
                        "first_name",
                        models.Value("\n"),
                        "last_name",
                        models.Value("\n"),
                        "email",
                        models.Value("\n"),
                        "phone",
                        output_field=models.TextField(),
                    )
                ),
                output_field=models.TextField(),
            ),
        ),
    ]
