"""Write the REST API's OpenAPI schema to the docs (``make openapi``), or check that it is current."""
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from activation_plugin.rest_api.schema import DOCS_FILE, same_schema, schema_yaml


class Command(BaseCommand):
    """``make openapi`` writes the schema; ``--check`` is how a stale committed schema is caught."""

    help = "Write the OpenAPI schema of /api/activation/v1/ to docs/references/openapi.yaml."

    def add_arguments(self, parser):
        parser.add_argument("--output", default=str(DOCS_FILE),
                            help="Where to write the YAML schema (default: relative to the project root).")
        parser.add_argument("--check", action="store_true",
                            help="Write nothing; fail if the file differs from the generated schema.")

    def handle(self, *args, **options):
        output = Path(options["output"])
        generated = schema_yaml()
        if options["check"]:
            if not output.exists() or not same_schema(output.read_text(encoding="utf-8"), generated):
                raise CommandError(f"{output} is out of date: run `make openapi` and commit it.")
            return
        output.write_text(generated, encoding="utf-8")
        self.stdout.write(f"wrote {output}")
