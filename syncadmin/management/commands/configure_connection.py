from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError, CommandParser

from syncadmin.crypto import SecretKeyError
from syncadmin.management.base import DatabaseCommand
from syncadmin.services.connections import netsuite_connection_update, zuora_connection_update


class Command(DatabaseCommand):
    help = "Store the connection settings of Zuora or NetSuite (secrets are encrypted)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="system", required=True)
        zuora = sub.add_parser("zuora", help="Zuora REST API (OAuth client credentials)")
        zuora.add_argument("--base-url", required=True)
        zuora.add_argument("--client-id", required=True)
        zuora.add_argument(
            "--client-secret",
            required=True,
            help='"" keeps the stored one, unless --base-url changes the address',
        )
        zuora.add_argument("--entity-id", default="")
        netsuite = sub.add_parser("netsuite", help="NetSuite SuiteTalk REST")
        netsuite.add_argument("--account-id", required=True)
        netsuite.add_argument("--base-url", default="")
        netsuite.add_argument("--auth", choices=["tba", "oauth2"], default="tba")
        netsuite.add_argument("--consumer-key", default="")
        netsuite.add_argument("--consumer-secret", default="")
        netsuite.add_argument("--token-id", default="")
        netsuite.add_argument("--token-secret", default="")
        netsuite.add_argument("--client-id", default="")
        netsuite.add_argument("--certificate-id", default="")
        netsuite.add_argument(
            "--private-key-file",
            default="",
            help="none keeps the stored key, unless the address (account or base URL) changes",
        )
        netsuite.add_argument("--algorithm", choices=["PS256", "ES256"], default="PS256")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["system"] == "zuora":
                connection = zuora_connection_update(
                    base_url=options["base_url"],
                    client_id=options["client_id"],
                    client_secret=options["client_secret"],
                    entity_id=options["entity_id"],
                )
            else:
                if options["auth"] == "tba" and not all(
                    options[k]
                    for k in ("consumer_key", "consumer_secret", "token_id", "token_secret")
                ):
                    raise CommandError(
                        "Token-based auth needs --consumer-key, --consumer-secret, --token-id "
                        "and --token-secret."
                    )
                private_key = None
                if options["private_key_file"]:
                    private_key = Path(options["private_key_file"]).read_text()
                connection = netsuite_connection_update(
                    account_id=options["account_id"],
                    base_url=options["base_url"],
                    auth_method=options["auth"],
                    consumer_key=options["consumer_key"],
                    consumer_secret=options["consumer_secret"] or None,
                    token_id=options["token_id"],
                    token_secret=options["token_secret"] or None,
                    client_id=options["client_id"],
                    certificate_id=options["certificate_id"],
                    private_key=private_key,
                    algorithm=options["algorithm"],
                )
        except ValidationError as exc:
            raise CommandError(
                "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
            ) from None
        except SecretKeyError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(self.style.SUCCESS(f"Saved: {connection}"))
