"""The bench driver's parts: a private redis-server, the scenarios, the ratio table, the plots."""
