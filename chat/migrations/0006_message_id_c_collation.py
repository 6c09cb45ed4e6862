"""Message ids sort in byte order on PostgreSQL whatever the database's collation.

History order and the after/before cursors compare KSUIDs as text; under a linguistic
collation (en_US, ICU) '3MnUhb' < '3MnUhU', so the column gets the "C" collation there.
SQLite compares text bytewise already.
"""

from django.db import migrations


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            'ALTER TABLE chat_message ALTER COLUMN id TYPE varchar(27) COLLATE "C"'
        )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE chat_message ALTER COLUMN id TYPE varchar(27)")


class Migration(migrations.Migration):
    dependencies = [("chat", "0005_session_updated_index")]
    operations = [migrations.RunPython(forwards, backwards)]
