"""The shape of a credential's value: one rule for the API, the admin and the services."""

from __future__ import annotations

import json

from rest_framework import serializers

from promptrails.outbound import OutboundRefused, check_url

URL_PROVIDER_TYPES = ("openai", "anthropic")  # whose values may name a base_url


def check_credential_value(type_: str, value: str) -> None:
    """A provider credential's value is a key or a JSON object {"api_key", "base_url"} (a
    server of the workspace's own): check its shape. A base_url must come with its own
    api_key (the server's keys never go to a URL a workspace chose) and pass the outbound
    policy (promptrails.outbound: resolved and checked now, and again at every connection)."""
    if type_ not in URL_PROVIDER_TYPES or not value.strip().startswith("{"):
        return
    try:
        parsed = json.loads(value)
    except ValueError:
        raise serializers.ValidationError(
            {"value": ["value looks like JSON but is not valid JSON."]}
        ) from None
    if not isinstance(parsed, dict):
        raise serializers.ValidationError({"value": ["value must be a JSON object."]})
    api_key = parsed.get("api_key", "")
    base_url = parsed.get("base_url")
    if not isinstance(api_key, str):
        raise serializers.ValidationError({"value": ["api_key must be a string."]})
    if base_url is not None:
        if not isinstance(base_url, str) or not base_url:
            raise serializers.ValidationError({"value": ["base_url must be an http(s) URL."]})
        if not api_key:
            raise serializers.ValidationError({"value": [
                "A base_url needs its own api_key: the server's keys are never sent to a URL "
                "a workspace chooses."]})
        try:
            check_url(base_url)
        except OutboundRefused as exc:
            raise serializers.ValidationError({"value": [f"base_url: {exc}"]}) from None
    if not api_key:
        raise serializers.ValidationError({"value": ["Give an api_key."]})
