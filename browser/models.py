"""What a browser holds on to: the right to resume one chat session."""

from __future__ import annotations

from django.db import models

from chat.models import Session
from promptrails.ids import KsuidField
from promptrails.models import ApiKey


class BrowserSession(models.Model):
    """A chat session started from a web page with a browser key: the hash of its resume
    token, bound to the session, the key and the page's origin. Revoking it (the widget's
    "new conversation") ends the page's access; the session stays, for staff."""

    id = KsuidField(primary_key=True)
    session = models.OneToOneField(Session, on_delete=models.CASCADE,
                                   related_name="browser_session")
    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE,
                                related_name="browser_sessions")
    origin = models.CharField(max_length=255)
    token_hash = models.CharField(max_length=64, unique=True)
    # An anonymous visitor id (a KSUID) for attribution across sessions, only when the page
    # asked for visitor tracking.
    visitor_id = models.CharField(max_length=27, null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "browser chat"

    def __str__(self) -> str:
        return f"{self.session_id} from {self.origin}"
