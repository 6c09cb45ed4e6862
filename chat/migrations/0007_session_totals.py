"""Running message totals on the session (count, tokens, cost), backfilled from the
messages, with (total, id) indexes for the admin's sorts."""

from importlib import import_module

from django.db import migrations, models

# SQLite rebuilds the table to add these columns, dropping indexes outside the model
# state; 0005's newest-first index is created again (IF NOT EXISTS: a no-op elsewhere).
updated_index = import_module("chat.migrations.0005_session_updated_index")


BACKFILL = """
UPDATE chat_session SET
    message_count = (SELECT COUNT(*) FROM chat_message m WHERE m.session_id = chat_session.id),
    total_tokens = (SELECT COALESCE(SUM(m.token_count), 0) FROM chat_message m
                    WHERE m.session_id = chat_session.id),
    total_cost = (SELECT COALESCE(SUM(m.cost), 0) FROM chat_message m
                  WHERE m.session_id = chat_session.id)
WHERE EXISTS (SELECT 1 FROM chat_message m WHERE m.session_id = chat_session.id)
"""


class Migration(migrations.Migration):

    dependencies = [
        ('chat', '0006_message_id_c_collation'),
    ]

    operations = [
        migrations.AddField(
            model_name='session',
            name='message_count',
            field=models.PositiveIntegerField(default=0, db_default=0, editable=False),
        ),
        migrations.AddField(
            model_name='session',
            name='total_cost',
            field=models.FloatField(default=0, db_default=0, editable=False),
        ),
        migrations.AddField(
            model_name='session',
            name='total_tokens',
            field=models.PositiveBigIntegerField(default=0, db_default=0, editable=False),
        ),
        migrations.RunPython(updated_index.create, migrations.RunPython.noop),
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop),
        migrations.AddIndex(
            model_name='session',
            index=models.Index(fields=['message_count', 'id'], name='session_messages_id'),
        ),
        migrations.AddIndex(
            model_name='session',
            index=models.Index(fields=['total_tokens', 'id'], name='session_tokens_id'),
        ),
        migrations.AddIndex(
            model_name='session',
            index=models.Index(fields=['total_cost', 'id'], name='session_cost_id'),
        ),
    ]
