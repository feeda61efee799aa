pytest_plugins = ["tests.zuora_fixtures", "tests.netsuite_fixtures"]
