from datetime import UTC, datetime

from django.db import migrations, models


def price_stored_usage(apps, schema_editor):
    """Each stored request gets the cost its price (as the table stands now) gives, one
    UPDATE per model and stretch of time between two price changes."""
    from apps.ai.prices import MILLION, PriceBook

    ModelPrice = apps.get_model("ai", "ModelPrice")
    AiUsage = apps.get_model("ai", "AiUsage")
    book = PriceBook(prices=list(ModelPrice.objects.all()))
    if not book.prices:
        return
    edges = [None, *book.breakpoints(), None]
    models_used = AiUsage.objects.values_list("model", flat=True).distinct()
    with schema_editor.connection.cursor() as cursor:
        for model in models_used:
            for lo, hi in zip(edges, edges[1:], strict=False):
                price = book.price_for(model, lo or datetime.min.replace(tzinfo=UTC))
                if price is None:
                    continue
                cached = price.cached_input_per_million
                cached = price.input_per_million if cached is None else cached
                cursor.execute(
                    "UPDATE ai_aiusage SET estimated_cost_usd = ((tokens_in - cached_tokens) "
                    "* %s::float8 + cached_tokens * %s::float8 + tokens_out * %s::float8) / %s "
                    'WHERE model = %s AND (%s::timestamptz IS NULL OR "timestamp" >= %s) '
                    'AND (%s::timestamptz IS NULL OR "timestamp" < %s)',
                    [
                        price.input_per_million,
                        cached,
                        price.output_per_million,
                        MILLION,
                        model,
                        lo,
                        lo,
                        hi,
                        hi,
                    ],
                )


class Migration(migrations.Migration):
    dependencies = [
        ("ai", "0004_reported_cost"),
    ]

    operations = [
        migrations.AddField(
            model_name="aiusage",
            name="estimated_cost_usd",
            field=models.FloatField(blank=True, null=True),
        ),
        migrations.RunPython(price_stored_usage, migrations.RunPython.noop),
    ]
