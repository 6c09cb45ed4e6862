"""Seed the LLM model registry (prices in USD per 1M tokens; idempotent)."""

from django.db import migrations

MODELS = [
    # provider, model_id, display_name, input, output, cached input, context, max output,
    # vision, reasoning
    ("openai", "gpt-4o", "GPT-4o", 2.50, 10.00, 1.25, 128_000, 16_384, True, False),
    ("openai", "gpt-4o-mini", "GPT-4o mini", 0.15, 0.60, 0.075, 128_000, 16_384, True, False),
    ("openai", "gpt-4.1", "GPT-4.1", 2.00, 8.00, 0.50, 1_047_576, 32_768, True, False),
    ("openai", "gpt-4.1-mini", "GPT-4.1 mini", 0.40, 1.60, 0.10, 1_047_576, 32_768, True, False),
    ("openai", "gpt-4.1-nano", "GPT-4.1 nano", 0.10, 0.40, 0.025, 1_047_576, 32_768, True, False),
    ("openai", "o3-mini", "o3-mini", 1.10, 4.40, 0.55, 200_000, 100_000, False, True),
    ("openai", "o4-mini", "o4-mini", 1.10, 4.40, 0.275, 200_000, 100_000, True, True),
    ("anthropic", "claude-sonnet-4-20250514", "Claude Sonnet 4", 3.00, 15.00, 0.30, 200_000,
     64_000, True, True),
    ("anthropic", "claude-opus-4-20250514", "Claude Opus 4", 15.00, 75.00, 1.50, 200_000,
     32_000, True, True),
    ("anthropic", "claude-3-7-sonnet-20250219", "Claude 3.7 Sonnet", 3.00, 15.00, 0.30, 200_000,
     64_000, True, True),
    ("anthropic", "claude-3-5-haiku-20241022", "Claude 3.5 Haiku", 0.80, 4.00, 0.08, 200_000,
     8_192, False, False),
    ("local", "echo", "Offline echo (built-in, no network)", 0.0, 0.0, None, 32_768, 4_096,
     False, False),
]


def seed(apps, schema_editor):
    LLMModel = apps.get_model("agents", "LLMModel")
    for (provider, model_id, display_name, input_price, output_price, cached, context,
         max_output, vision, reasoning) in MODELS:
        LLMModel.objects.update_or_create(
            provider=provider,
            model_id=model_id,
            defaults={
                "display_name": display_name,
                "input_price": input_price,
                "output_price": output_price,
                "cached_input_price": cached,
                "max_tokens": context,
                "max_output_tokens": max_output,
                "supports_tools": True,
                "supports_streaming": True,
                "supports_vision": vision,
                "supports_reasoning": reasoning,
                "is_active": True,
                "is_deprecated": False,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("agents", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
