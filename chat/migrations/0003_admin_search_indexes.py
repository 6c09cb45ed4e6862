"""Full-text search indexes for the admin's session search, on PostgreSQL only.

The expressions match chat/admin_search.py exactly (the planner matches them by shape).
"""

from django.db import migrations

INDEXES = {
    "session_title_fts": (
        "chat_session", "to_tsvector('simple'::regconfig, (title)::text)"
    ),
    "session_metadata_fts": (
        "chat_session",
        "jsonb_to_tsvector('simple'::regconfig, metadata, '[\"string\", \"numeric\"]'::jsonb)",
    ),
    "message_content_fts": (
        "chat_message", "to_tsvector('simple'::regconfig, content)"
    ),
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name, (table, expression) in INDEXES.items():
            schema_editor.execute(
                f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin (({expression}))"
            )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name in INDEXES:
            schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("chat", "0002_session_metadata_gin")]
    operations = [migrations.RunPython(create, drop)]
