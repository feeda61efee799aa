"""`python -m connectors.sandboxes {zuora,netsuite} [options]`: serve one sandbox until
interrupted, seeded with realistic records (or loaded from --state-file, saved back on exit)."""

from __future__ import annotations

import argparse
import logging
import os

from connectors.sandboxes import netsuite, zuora
from connectors.sandboxes.hooks import HookSettings
from connectors.sandboxes.server import SandboxConfig

Sandbox = zuora.ZuoraSandbox | netsuite.NetSuiteSandbox


def build_parser() -> argparse.ArgumentParser:
    shared = argparse.ArgumentParser(add_help=False)
    shared.add_argument("--host", default="127.0.0.1")
    shared.add_argument("--seed", type=int, default=42)
    shared.add_argument("--state-file", default=None, help="load from / save to this JSON file")
    shared.add_argument("--latency-ms", type=float, default=0.0)
    shared.add_argument("--fault-rate", type=float, default=0.0)
    hooks = shared.add_argument_group(
        "change notifications",
        "post a signed call to syncadmin's hook after each save, as the vendor would "
        "(Zuora callouts, NetSuite's user event script); see docs/sandboxes.md",
    )
    hooks.add_argument("--hook-url", default="", help="e.g. http://127.0.0.1:8000/hooks/zuora/")
    hooks.add_argument(
        "--hook-secret",
        default=os.environ.get("SANDBOX_HOOK_SECRET", ""),
        help="the shared secret that signs each call (default: $SANDBOX_HOOK_SECRET)",
    )
    hooks.add_argument("--hook-retries", type=int, default=3)
    hooks.add_argument("--hook-retry-delay", type=float, default=1.0, metavar="SECONDS")
    parser = argparse.ArgumentParser(
        prog="python -m connectors.sandboxes",
        description="A local Zuora or NetSuite sandbox for syncadmin.",
    )
    vendors = parser.add_subparsers(dest="vendor", required=True, metavar="{zuora,netsuite}")

    z = vendors.add_parser("zuora", parents=[shared], help="a Zuora tenant (REST v1, ZOQL)")
    z.add_argument("--port", type=int, default=8081)
    z.add_argument("--accounts", type=int, default=200, help="accounts to seed")
    z.add_argument("--concurrency-limit", type=int, default=40)
    z.add_argument("--token-ttl", type=int, default=3599)
    z.add_argument(
        "--hook-basic-user",
        default="",
        help="send the callout with HTTP Basic auth (a tenant that cannot add the signature)",
    )
    z.add_argument(
        "--hook-basic-password", default=os.environ.get("SANDBOX_HOOK_BASIC_PASSWORD", "")
    )
    z.set_defaults(start=_zuora)

    n = vendors.add_parser("netsuite", parents=[shared], help="a NetSuite account (SuiteTalk REST)")
    n.add_argument("--port", type=int, default=8766)
    n.add_argument("--account-id", default=netsuite.DEFAULT_ACCOUNT_ID)
    n.add_argument("--customers", type=int, default=50, help="customers to seed")
    n.add_argument("--concurrency-limit", type=int, default=5)
    n.add_argument("--token-ttl", type=int, default=3600)
    n.add_argument(
        "--time-zone",
        default="UTC",
        help="the integration user's time zone preference (e.g. America/Los_Angeles): "
        "SuiteQL dates read as wall clock times in it",
    )
    n.set_defaults(start=_netsuite)
    return parser


def hook_settings(args: argparse.Namespace) -> HookSettings | None:
    """The hook options as settings; None without --hook-url. Raises ValueError."""
    if not args.hook_url:
        return None
    settings = HookSettings(
        url=args.hook_url,
        secret=args.hook_secret,
        basic_user=getattr(args, "hook_basic_user", ""),
        basic_password=getattr(args, "hook_basic_password", ""),
        retries=args.hook_retries,
        retry_delay_seconds=args.hook_retry_delay,
    )
    settings.validate()
    return settings


def _zuora(args: argparse.Namespace, config: SandboxConfig) -> tuple[Sandbox, str]:
    sandbox = zuora.ZuoraSandbox(
        host=args.host,
        port=args.port,
        config=config,
        token_ttl=args.token_ttl,
        state_file=args.state_file,
        hook=hook_settings(args),
    )
    if not sandbox.accounts:
        sandbox.seed(args.accounts, seed=args.seed)
    return sandbox, (
        f"Zuora sandbox on http://{args.host}:{args.port} with {len(sandbox.accounts)} accounts; "
        f"client_id={zuora.DEFAULT_CLIENT_ID} client_secret={zuora.DEFAULT_CLIENT_SECRET}"
    )


def _netsuite(args: argparse.Namespace, config: SandboxConfig) -> tuple[Sandbox, str]:
    sandbox = netsuite.NetSuiteSandbox(
        host=args.host,
        port=args.port,
        config=config,
        account_id=args.account_id,
        state_file=args.state_file,
        token_ttl=args.token_ttl,
        time_zone=args.time_zone,
        hook=hook_settings(args),
    )
    if not (args.state_file and os.path.exists(args.state_file)):
        sandbox.seed(customers=args.customers, seed=args.seed)
    return sandbox, (
        f"NetSuite sandbox for account {sandbox.account_id} on http://{args.host}:{args.port}\n"
        f"  TBA: consumer key {netsuite.DEFAULT_CONSUMER_KEY!r} / secret "
        f"{netsuite.DEFAULT_CONSUMER_SECRET!r}, token {netsuite.DEFAULT_TOKEN_ID!r} / secret "
        f"{netsuite.DEFAULT_TOKEN_SECRET!r}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        hook_settings(args)
    except ValueError as exc:
        parser.error(f"hook options: {exc}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config = SandboxConfig(
        latency_ms=args.latency_ms,
        concurrency_limit=args.concurrency_limit,
        fault_rate=args.fault_rate,
    )
    sandbox, banner = args.start(args, config)
    if sandbox.hooks.active:
        hook = sandbox.hooks.settings
        how = "signed" if hook.secret else "with Basic auth"
        if hook.secret and hook.basic_user:
            how = "signed and with Basic auth"
        banner += f"\n  hooks: each save posts a call ({how}) to {hook.url}"
    print(banner, flush=True)
    try:
        sandbox.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        if args.state_file:
            sandbox.save()


if __name__ == "__main__":
    main()
