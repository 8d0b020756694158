"""What guards every dependency that can fail: circuit breakers, retries, one guarded call.

Nothing here knows about lobbies or errors storage. ``guard`` is the one
primitive every call to a dependency goes through; ``registry`` keeps one
named ``Dependency`` per process for each (the database, the channel layer,
each AI provider) so that their states are listed in one place; ``database``
and ``channel_layer`` are the two guarded dependencies of the server itself.
"""
