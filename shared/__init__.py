"""Code shared by the gateway and the three services: settings, errors, auth, scope, database, observability."""
