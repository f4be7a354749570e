"""Settings: the typed schema, the resolvers, the command line and the sweep preflight."""
