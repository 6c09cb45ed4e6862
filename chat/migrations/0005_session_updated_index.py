"""An index on (updated_at DESC, id DESC): the session changelist's default order.

The changelist, the metadata filter's sample of recent sessions and the capped count all
walk the sessions newest first; without a workspace filter (a superuser) only this index
gives that order without sorting the whole table. Raw SQL (like 0002/0003) so the
model state is unchanged.
"""

from django.db import migrations


def create(apps, schema_editor):
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS session_updated_id "
        "ON chat_session (updated_at DESC, id DESC)"
    )


def drop(apps, schema_editor):
    schema_editor.execute("DROP INDEX IF EXISTS session_updated_id")


class Migration(migrations.Migration):
    dependencies = [("chat", "0004_idempotency_key")]
    operations = [migrations.RunPython(create, drop)]
