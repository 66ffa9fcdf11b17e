"""What `bhsvc status` and `bhsvc doctor` know about an installation, and what they
conclude from it.

- `facts`: the `Facts` one gatherer fills, and pure readers of them;
- `gather`: the gatherer (the only module here that makes calls);
- `summary`: status's summary, problems and JSON document (pure);
- `screen`: the text screen of that document (pure);
- `checks`: doctor's checks, one pure function each, with the exact fix;
- `netpol`: whether NetworkPolicies admit a connection (pure);
- `logs`: the texts that betray a failure in build and BinderHub logs (pure).
"""
