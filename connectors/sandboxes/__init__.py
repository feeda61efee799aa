"""Local simulators of the Zuora and NetSuite APIs, for the tests, the demo, the benchmark and
the crash trials. Nothing a production install runs imports them.

Run one standalone: python -m connectors.sandboxes zuora --port 8081 --accounts 500
(or `netsuite --customers 200`; `--help` lists every option).
"""
