"""The handlers, one module per area of the API. Each reads its request through `api.requests` (or `params`),
calls one of the daemon's parts from `request.app[PARTS]`, and shapes the answer; none holds logic of its own."""
